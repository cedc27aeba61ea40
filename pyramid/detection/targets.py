"""YOLO training targets built per batch in TensorFlow, from padded boxes.

Input: `boxes` [B, M, 5] float32 (x1, y1, x2, y2, class_index) in input pixels, origin at
the top-left of the square S x S input, and `counts` [B] int32; rows at or beyond an
image's count are padding. For every YOLO branch (stride s, grid G = S // s, A anchors)
the target is a dense tensor [B, G, G, A, 5 + C]:
(x, y, w, h of the box in input pixels, objectness 0/1, class vector
onehot * (1 - smoothing) + smoothing / C).

Assignment, for each valid box (all batched, no per-box Python):
- its cell in a branch is (row, col) = floor((cy, cx) / s), as sensenet's decode puts cell
  (row i, col j) at offset (j, i);
- it claims every anchor, of every branch, whose IoU with the box exceeds `iou_threshold`
  when both are centred at the same point (only the shapes are compared, so the IoU does
  not depend on where the box sits in its cell);
- if no anchor passes anywhere, it claims the single anchor with the best IoU over all
  branches (the first in branch order on ties, e.g. for a zero-size box).

A box is dropped (no target, and not a true box for the loss's ignore mask) when it is a
padding row, when its centre lies outside [0, S) in either axis (a centre left of or above
the image is dropped, not wrapped to the far side by negative indexing, which was the
earlier implementation's bug), when its width or height is negative or not finite, or
when its class index is outside [0, C). A branch whose grid does not reach the centre (S
not a multiple of s) gives it no cell there.

Two boxes claiming the same (cell, anchor): the box of larger area wins, and between equal
areas the earlier row. The winner is found with a segment maximum over a unique priority
per box and its label gathered, so no scatter sees duplicate indices (a scatter with
duplicates, e.g. tf.tensor_scatter_nd_update, leaves an unspecified winner).
"""

from pyramid.detection.decode import grid_size
from pyramid.importers import tf


def centred_iou(wh, anchors):
    """IoU of boxes `wh` [..., 2] with `anchors` [A, 2] when both share a centre: [..., A]."""
    wh = wh[..., None, :]
    inter = tf.minimum(wh[..., 0], anchors[:, 0]) * tf.minimum(wh[..., 1], anchors[:, 1])
    union = wh[..., 0] * wh[..., 1] + anchors[:, 0] * anchors[:, 1] - inter
    return tf.math.divide_no_nan(inter, union)


def yolo_targets(boxes, counts, branches, input_size, n_classes, label_smoothing=0.0, iou_threshold=0.3):
    """(per-branch targets [B, G, G, A, 5 + C] as a tuple, true_boxes [B, M, 4] xywh, valid [B, M]).

    A tuple, not a list, so that tf.data keeps the branches apart (it would stack a list).

    `true_boxes` holds every valid box of each image (centre x, centre y, w, h in input
    pixels; zeros where not valid), for the loss's ignore mask.
    """
    boxes = tf.cast(tf.convert_to_tensor(boxes), tf.float32)
    counts = tf.cast(tf.convert_to_tensor(counts), tf.int32)
    batch = tf.shape(boxes)[0]
    slots = tf.shape(boxes)[1]
    size = float(input_size)
    n_classes = int(n_classes)

    # One extra padding row per image, so that gathers never index an empty tensor (M = 0).
    padded = tf.pad(boxes, [[0, 0], [0, 1], [0, 0]])
    x1, y1, x2, y2, klass = tf.unstack(padded, axis=-1)
    cx, cy, w, h = (x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1
    class_index = tf.cast(tf.round(tf.where(tf.math.is_finite(klass), klass, -1.0)), tf.int32)
    rows = tf.range(slots + 1)
    valid = (
        (rows[None, :] < counts[:, None])
        & (cx >= 0.0)
        & (cx < size)
        & (cy >= 0.0)
        & (cy < size)  # False for NaN too
        & (w >= 0.0)
        & (h >= 0.0)
        & tf.math.is_finite(w)
        & tf.math.is_finite(h)
        & (class_index >= 0)
        & (class_index < n_classes)
    )
    xywh = tf.where(valid[..., None], tf.stack([cx, cy, w, h], axis=-1), 0.0)
    cx, cy, w, h = tf.unstack(xywh, axis=-1)
    class_index = tf.where(valid, class_index, 0)

    smoothing = float(label_smoothing)
    classes = tf.one_hot(class_index, n_classes) * (1.0 - smoothing) + smoothing / n_classes
    box_labels = tf.concat([xywh, tf.ones_like(xywh[..., :1]), classes], axis=-1)  # [B, M+1, 5+C]

    # Which (branch, anchor) each box claims.
    cells, eligible, ious = [], [], []
    for branch in branches:
        stride = float(branch["strides"])
        grid = grid_size(branch, input_size)
        anchors = tf.constant(branch["anchors"], tf.float32)
        col = tf.cast(tf.floor(cx / stride), tf.int32)
        row = tf.cast(tf.floor(cy / stride), tf.int32)
        in_grid = valid & (col < grid) & (row < grid)
        count = len(branch["anchors"])
        cells.append((row, col))
        eligible.append(tf.tile(in_grid[..., None], [1, 1, count]))
        ious.append(centred_iou(tf.stack([w, h], axis=-1), anchors))
    eligible = tf.concat(eligible, axis=-1)  # [B, M+1, all anchors]
    ious = tf.concat(ious, axis=-1)
    passing = eligible & (ious > iou_threshold)
    fallback = ~tf.reduce_any(passing, axis=-1) & tf.reduce_any(eligible, axis=-1)
    best = tf.argmax(tf.where(eligible, ious, -1.0), axis=-1, output_type=tf.int32)
    best = tf.one_hot(best, tf.shape(ious)[-1], on_value=True, off_value=False) & fallback[..., None]
    claims = passing | (best & eligible)

    # A unique priority per box within its image: larger area first, then earlier row.
    area = tf.where(valid, w * h, -1.0)
    order = tf.argsort(area, axis=1, direction="DESCENDING", stable=True)  # rank -> row
    rank = tf.argsort(order, axis=1, stable=True)  # row -> rank (inverse permutation)
    top = slots + 1
    priority = top - rank  # 1 .. M+1, larger wins

    labels = []
    start = 0
    for branch, (row, col) in zip(branches, cells):
        count = len(branch["anchors"])
        grid = grid_size(branch, input_size)
        claim = claims[..., start : start + count]  # [B, M+1, A]
        start += count
        image = tf.range(batch)[:, None, None]
        anchor = tf.range(count)[None, None, :]
        cell = ((image * grid + row[..., None]) * grid + col[..., None]) * count + anchor
        segments = batch * grid * grid * count
        cell = tf.where(claim, cell, segments)  # unclaimed entries go to a spare segment
        claimed = tf.where(claim, priority[..., None], 0)
        best_priority = tf.math.unsorted_segment_max(
            tf.reshape(claimed, [-1]), tf.reshape(cell, [-1]), segments + 1
        )[:-1]
        best_priority = tf.reshape(tf.maximum(best_priority, 0), [batch, grid * grid * count])
        winner_rank = tf.clip_by_value(top - best_priority, 0, slots)
        winner = tf.gather(order, winner_rank, batch_dims=1)
        label = tf.gather(box_labels, winner, batch_dims=1)
        label = tf.where((best_priority > 0)[..., None], label, 0.0)
        labels.append(tf.reshape(label, [-1, grid, grid, count, 5 + n_classes]))
    return tuple(labels), xywh[:, :-1], valid[:, :-1]
