"""YOLO head outputs decoded as sensenet 0.7.5 decodes them, and its detections reproduced.

The contract is sensenet's `yolo_decode` and `BoxLocator` (layers/yolo.py and
models/bounding_box.py): pyramid's predictions must be the ones the written JSON gives.
For a branch (stride s, xyscale k, anchors, grid G = S // s), the raw head output
[B, G, G, A * (5 + C)] is reshaped to [B, G, G, A, 5 + C] with channels
(tx, ty, tw, th, conf, p_1 .. p_C) and, for the cell at row i, column j:
    (x, y) = (sigmoid(tx, ty) * k - 0.5 * (k - 1) + (j, i)) * s
    (w, h) = exp(tw, th) * anchor                      (input pixels)
    score_c = sigmoid(conf) * sigmoid(p_c)             (independent sigmoids, no softmax)
Boxes are flattened per branch in (row, col, anchor) order, branches concatenated in spec
order; a box's class is the argmax of its scores and its score their maximum.

Every operation is the one sensenet runs, in the same order and in float32 (e.g. the
corners are (centre - size / 2.0), then / S, then * max(original h, w), then rounded half
to even), so the results are bitwise the same, not just close.
"""

from pyramid.importers import tf

# Defaults of sensenet's ObjectDetector (sensenet.constants).
SCORE_THRESHOLD = 0.5
IOU_THRESHOLD = 0.5
MAX_OBJECTS = 32


def grid_size(branch, input_size):
    return int(input_size) // int(branch["strides"])


def cell_offsets(grid):
    """[1, G, G, 1, 2] float32 with (col, row) at [0, row, col, 0], as sensenet's meshgrid."""
    columns, rows = tf.meshgrid(tf.range(grid), tf.range(grid))
    return tf.cast(tf.stack([columns, rows], axis=-1)[None, :, :, None, :], tf.float32)


def decode_branch(raw, branch, input_size, n_classes, max_log_scale=None):
    """(logits [B, G, G, A, 5 + C], boxes xywh [B, G, G, A, 4] in input pixels) of one branch.

    `raw` is cast to float32 first. `max_log_scale` clips (tw, th) to +-max_log_scale before
    exp, to keep training finite; prediction (None) does not clip, as sensenet does not.
    """
    grid = grid_size(branch, input_size)
    anchors = branch["anchors"]
    logits = tf.reshape(tf.cast(raw, tf.float32), [-1, grid, grid, len(anchors), 5 + int(n_classes)])
    raw_xy, raw_wh = logits[..., 0:2], logits[..., 2:4]
    if max_log_scale is not None:
        raw_wh = tf.clip_by_value(raw_wh, -max_log_scale, max_log_scale)
    xyscale, stride = branch["xyscale"], branch["strides"]
    # Python scalars as in sensenet: 0.5 * (k - 1) is computed in double, then made float32.
    correction = (tf.sigmoid(raw_xy) * xyscale) - 0.5 * (xyscale - 1)
    xy = (correction + cell_offsets(grid)) * stride
    wh = tf.exp(raw_wh) * tf.constant(anchors, dtype=tf.float32)
    return logits, tf.concat([xy, wh], axis=-1)


def decode_raw(raw_outputs, branches, input_size, n_classes):
    """Every anchor box of a batch: (boxes [B, N, 4], scores [B, N], classes [B, N] int32).

    `raw_outputs` holds one [B, G, G, A * (5 + C)] head output per branch (any float dtype).
    Boxes are (x1, y1, x2, y2) in input pixels, neither clipped nor rounded; N is
    sum(G * G * A) over branches, in sensenet's order (branch, row, col, anchor).
    """
    all_boxes, all_scores = [], []
    for raw, branch in zip(raw_outputs, branches, strict=True):
        logits, xywh = decode_branch(raw, branch, input_size, n_classes)
        count = grid_size(branch, input_size) ** 2 * len(branch["anchors"])
        scores = tf.sigmoid(logits[..., 4:5]) * tf.sigmoid(logits[..., 5:])
        all_boxes.append(tf.reshape(xywh, [-1, count, 4]))
        all_scores.append(tf.reshape(scores, [-1, count, int(n_classes)]))
    xywh = tf.concat(all_boxes, axis=1)
    scores = tf.concat(all_scores, axis=1)
    xy, wh = xywh[..., :2], xywh[..., 2:]
    boxes = tf.concat([xy - (wh / 2.0), xy + (wh / 2.0)], axis=-1)
    return boxes, tf.reduce_max(scores, axis=-1), tf.argmax(scores, axis=-1, output_type=tf.int32)


def to_original(boxes, input_size, original_hw):
    """Boxes [B, N, 4] in input pixels -> original-image pixels, as sensenet maps them.

    corner / S * max(h, w) of each image, rounded half to even, not clipped: right for an
    image padded at the bottom/right to a square and rescaled ("pad", sensenet's default
    for detectors). `original_hw` is [B, 2] (height, width).
    """
    max_dim = tf.reduce_max(tf.cast(original_hw, tf.float32), axis=-1)
    return tf.math.round(boxes / float(input_size) * max_dim[:, None, None])


def filter_detections(
    boxes,
    scores,
    classes,
    input_size,
    original_hw,
    score_threshold=SCORE_THRESHOLD,
    iou_threshold=IOU_THRESHOLD,
    max_objects=MAX_OBJECTS,
):
    """sensenet's filtering of decoded boxes, batched: boxes in original-image pixels.

    `boxes` [B, N, 4] (x1, y1, x2, y2 in input pixels), `scores`, `classes` [B, N] come
    from `decode_raw`; `original_hw` [B, 2] is each image's size before it was padded
    (bottom/right) and rescaled to the square input. As sensenet does:
    - corners are scaled by max(h, w) / S and rounded half to even, not clipped (right
      for "pad" rescaling only);
    - tf.image.non_max_suppression_padded runs over all boxes, whatever their class
      (class-agnostic), on the rounded boxes: a box is kept only if its score is
      > score_threshold, and suppressed if its IoU with a kept higher-scoring box is
      > iou_threshold; at most max_objects per image, in descending score order;
    - that op also counts a selected box only if some coordinate is > 0, so a box lying
      wholly above and left of the origin is never returned.
    Returns (boxes [B, K, 4] x1, y1, x2, y2, scores [B, K], classes [B, K], num_valid [B]),
    K = max_objects; rows at or beyond num_valid are zeros.
    """
    original = to_original(boxes, input_size, original_hw)
    indices, num_valid = tf.image.non_max_suppression_padded(
        boxes=tf.gather(original, [1, 0, 3, 2], axis=-1),  # y1, x1, y2, x2 as sensenet passes them
        scores=scores,
        max_output_size=int(max_objects),
        iou_threshold=float(iou_threshold),
        score_threshold=float(score_threshold),
        pad_to_max_output_size=True,
    )
    indices = tf.reshape(indices, [-1, int(max_objects)])
    keep = tf.range(int(max_objects))[None, :] < tf.reshape(num_valid, [-1, 1])
    selected = tf.gather(original, indices, batch_dims=1)
    return (
        tf.where(keep[..., None], selected, 0.0),
        tf.where(keep, tf.gather(scores, indices, batch_dims=1), 0.0),
        tf.where(keep, tf.gather(classes, indices, batch_dims=1), 0),
        tf.reshape(num_valid, [-1]),
    )


def detections(
    raw_outputs,
    branches,
    input_size,
    n_classes,
    original_hw,
    score_threshold=SCORE_THRESHOLD,
    iou_threshold=IOU_THRESHOLD,
    max_objects=MAX_OBJECTS,
):
    """One image's detections as sensenet's ObjectDetector returns them for a "pad" input.

    `raw_outputs`: one head output per branch for this image, [G, G, A * (5 + C)] or with a
    leading batch dimension of 1. `original_hw`: (height, width) of the image before it was
    padded and rescaled. Returns [{"box": [x1, y1, x2, y2] ints in original pixels,
    "score": float, "class": int}, ...] in descending score order (sensenet gives the
    label, values[class], where this gives the class index).
    """
    batched = [
        raw if len(raw.shape) == 4 else tf.expand_dims(raw, 0)
        for raw in map(tf.convert_to_tensor, raw_outputs)
    ]
    boxes, scores, classes = decode_raw(batched, branches, input_size, n_classes)
    boxes, scores, classes, num_valid = filter_detections(
        boxes,
        scores,
        classes,
        input_size,
        tf.reshape(tf.convert_to_tensor(original_hw), [1, 2]),
        score_threshold,
        iou_threshold,
        max_objects,
    )
    count = int(num_valid[0])
    return [
        {"box": [int(c) for c in box], "score": float(score), "class": int(klass)}
        for box, score, klass in zip(
            boxes[0, :count].numpy(), scores[0, :count].numpy(), classes[0, :count].numpy()
        )
    ]
