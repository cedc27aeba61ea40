"""The YOLO training loss, one scalar per image, in float32.

For each branch the raw head output [B, G, G, A * (5 + C)] is decoded exactly as sensenet
decodes it at prediction time (pyramid.detection.decode), except that (tw, th) are clipped
to +-MAX_LOG_SCALE before exp so that a wild prediction early in training stays finite.
The loss of an image is the sum over branches, cells and anchors of:

- box: objectness * (2 - w * h / S^2) * (1 - CIoU(predicted box, target box)); the weight
  makes small boxes count more, since CIoU alone is scale-free;
- objectness: sigmoid cross-entropy from the logit, on positive anchors (target 1) and on
  negative anchors (target 0) whose predicted box has an IoU below `ignore_threshold`
  with every true box of the image: a prediction that already covers an object from a
  neighbouring cell or anchor is neither rewarded nor punished (the usual YOLOv3/v4 rule;
  the default 0.5 is sensenet's IGNORE_THRESHOLD constant, which sensenet itself never
  uses; the earlier implementation used 0.3, against a 128-box list per branch). Unlike
  the earlier implementation there is no focal (target - p)^2 factor;
- classes: sigmoid cross-entropy from the logits against the (smoothed) class vector, on
  positive anchors only; independent sigmoids, as sensenet decodes classes.

It is returned per image ([B]) so that Keras sample weights and tf.distribute reductions
apply. Whatever the dtype of the head outputs (float16, bfloat16 under mixed precision),
everything is computed in float32. Every division is divide-no-nan, and the
cross-entropies take logits, so zero-size boxes, empty cells and images without boxes
give finite values and finite gradients.
"""

import math

from pyramid.detection.decode import decode_branch
from pyramid.importers import tf

MAX_LOG_SCALE = 8.0  # exp(8) ~ 3000 anchors: far beyond any real box, still finite
IGNORE_THRESHOLD = 0.5


def corners(xywh):
    xy, wh = xywh[..., :2], xywh[..., 2:4]
    return xy - wh / 2.0, xy + wh / 2.0


def box_iou(a, b):
    """IoU of xywh boxes `a` and `b` (broadcasting), 0 where the union is empty."""
    a_min, a_max = corners(a)
    b_min, b_max = corners(b)
    overlap = tf.maximum(tf.minimum(a_max, b_max) - tf.maximum(a_min, b_min), 0.0)
    inter = overlap[..., 0] * overlap[..., 1]
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return tf.math.divide_no_nan(inter, union)


def ciou(pred, true):
    """Complete IoU of xywh boxes: IoU - centre distance^2 / enclosing diagonal^2 - alpha * v.

    v measures the difference of aspect ratios, alpha = v / (1 - IoU + v) is held constant
    in the gradient (as in the CIoU paper), and every ratio is divide-no-nan, so boxes of
    zero width or height give finite values and gradients.
    """
    p_min, p_max = corners(pred)
    t_min, t_max = corners(true)
    overlap = tf.maximum(tf.minimum(p_max, t_max) - tf.maximum(p_min, t_min), 0.0)
    inter = overlap[..., 0] * overlap[..., 1]
    union = pred[..., 2] * pred[..., 3] + true[..., 2] * true[..., 3] - inter
    iou = tf.math.divide_no_nan(inter, union)
    enclosing = tf.maximum(p_max, t_max) - tf.minimum(p_min, t_min)
    diagonal = tf.reduce_sum(tf.square(enclosing), axis=-1)
    distance = tf.reduce_sum(tf.square(pred[..., :2] - true[..., :2]), axis=-1)
    aspect = tf.atan(tf.math.divide_no_nan(pred[..., 2], pred[..., 3])) - tf.atan(
        tf.math.divide_no_nan(true[..., 2], true[..., 3])
    )
    v = (4.0 / math.pi**2) * tf.square(aspect)
    alpha = tf.stop_gradient(tf.math.divide_no_nan(v, 1.0 - iou + v))
    return iou - tf.math.divide_no_nan(distance, diagonal) - alpha * v


def yolo_loss(
    raw_outputs,
    targets,
    true_boxes,
    valid,
    branches,
    input_size,
    n_classes,
    ignore_threshold=IGNORE_THRESHOLD,
):
    """Loss per image [B] float32.

    `raw_outputs`: per branch [B, G, G, A * (5 + C)] head outputs (any float dtype);
    `targets`, `true_boxes`, `valid`: as returned by `yolo_targets` (per-branch
    [B, G, G, A, 5 + C]; [B, M, 4] xywh; [B, M] bool).
    """
    size = float(input_size)
    true_boxes = tf.cast(true_boxes, tf.float32)[:, None, :, :]  # [B, 1, M, 4]
    valid = tf.cast(valid, tf.bool)[:, None, :]
    total = 0.0
    for raw, target, branch in zip(raw_outputs, targets, branches, strict=True):
        logits, boxes = decode_branch(raw, branch, input_size, n_classes, max_log_scale=MAX_LOG_SCALE)
        target = tf.cast(target, tf.float32)
        objectness = target[..., 4]
        target_boxes = target[..., :4]

        weight = objectness * (2.0 - target[..., 2] * target[..., 3] / (size * size))
        box_loss = weight * (1.0 - ciou(boxes, target_boxes))

        # Best IoU of each predicted box with any true box of its image (0 without any).
        flat = tf.reshape(boxes, [tf.shape(boxes)[0], -1, 1, 4])  # [B, N, 1, 4]
        overlaps = tf.where(valid, box_iou(flat, true_boxes), 0.0)  # [B, N, M]
        best = tf.reduce_max(tf.pad(overlaps, [[0, 0], [0, 0], [0, 1]]), axis=-1)
        best = tf.reshape(tf.stop_gradient(best), tf.shape(objectness))
        background = (1.0 - objectness) * tf.cast(best < ignore_threshold, tf.float32)
        confidence = tf.nn.sigmoid_cross_entropy_with_logits(labels=objectness, logits=logits[..., 4])
        confidence_loss = (objectness + background) * confidence

        classes = tf.nn.sigmoid_cross_entropy_with_logits(labels=target[..., 5:], logits=logits[..., 5:])
        class_loss = objectness * tf.reduce_sum(classes, axis=-1)

        total += tf.reduce_sum(box_loss + confidence_loss + class_loss, axis=[1, 2, 3])
    return total
