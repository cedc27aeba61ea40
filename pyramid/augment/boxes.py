"""Boxes moved with their images through the forward maps of the geometric augmentations."""

from pyramid.importers import tf

# A transformed box is kept only if at least this fraction of it stays inside the image.
MIN_VISIBLE_BOX_FRACTION = 0.25


def transform_boxes(boxes, forward, height, width):
    """Boxes [B, M, 4] through `forward`: the enclosing box of the moved corners, clipped.

    Returns (boxes, kept): `kept` is False for a box of which less than
    MIN_VISIBLE_BOX_FRACTION stays inside the image; its row stays, so labels keep aligned.
    """
    x1, y1, x2, y2 = tf.unstack(tf.cast(boxes, tf.float32), axis=-1)
    xs = tf.stack([x1, x2, x2, x1], axis=-1)
    ys = tf.stack([y1, y1, y2, y2], axis=-1)
    points = tf.stack([xs, ys, tf.ones_like(xs)], axis=-1)  # [B, M, 4, 3]
    moved = tf.einsum("bij,bmkj->bmki", forward, points)
    moved_x = moved[..., 0] / moved[..., 2]
    moved_y = moved[..., 1] / moved[..., 2]
    enclosing = tf.stack(
        [tf.reduce_min(moved_x, -1), tf.reduce_min(moved_y, -1), tf.reduce_max(moved_x, -1), tf.reduce_max(moved_y, -1)],
        axis=-1,
    )
    limits = tf.constant([width, height, width, height], tf.float32)
    clipped = tf.clip_by_value(enclosing, 0.0, limits)
    visible = area(clipped) / tf.maximum(area(enclosing), 1e-6)
    return clipped, visible >= MIN_VISIBLE_BOX_FRACTION


def area(boxes):
    return tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * tf.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
