"""Backgrounds as graph ops: random crops of photos, and synthetic backgrounds.

A synthetic background is a uniform colour with shapes drawn over it: with probability 0.5,
4 to MAX_SHAPES shapes, otherwise 0 to 4. Each shape is a line, an ellipse, a rectangle or a
wedge (a slice of an ellipse), turned by a random angle, of a random colour, at a random
place; later shapes cover earlier ones. All shapes are evaluated at once on the pixel grid:
each pixel takes the colour of the last shape that covers it.
"""

import math

from pyramid.importers import tf

MAX_SHAPES = 16
KINDS = ("line", "ellipse", "rectangle", "wedge")
MIN_CROP = 0.5  # a photo crop is 50% to 100% of the side of the photo's canvas
# Shapes are drawn at most this many pixels on the longer side, then resized (bilinear) to the
# output: every shape is evaluated at every pixel, and the cost grows with the area.
MAX_SYNTHETIC_SIDE = 224


def photo_crop(photos, photo_draw, crop_draws, shape_hw):
    """A random part of a random photo of `photos` [N, Hb, Wb, 3] (uint8), resized to
    `shape_hw`: its side MIN_CROP to 1 times the canvas's, at a random place."""
    count = tf.shape(photos)[0]
    which = tf.minimum(tf.cast(photo_draw * tf.cast(count, tf.float32), tf.int32), count - 1)
    size = MIN_CROP + crop_draws[0] * (1 - MIN_CROP)
    top, left = crop_draws[1] * (1 - size), crop_draws[2] * (1 - size)
    box = tf.stack([top, left, top + size, left + size])[None]
    photo = tf.cast(photos[which][None], tf.float32)
    return tf.image.crop_and_resize(photo, box, [0], shape_hw, method="bilinear")[0]


def synthetic(draw, shape_hw):
    """float32 [H, W, 3]; `draw(part, shape)` gives the uniform draws."""
    scale = min(1.0, MAX_SYNTHETIC_SIDE / max(shape_hw))
    if scale < 1.0:
        small = [max(1, round(size * scale)) for size in shape_hw]
        return tf.image.resize(synthetic_at(draw, small), shape_hw, method="bilinear")
    return synthetic_at(draw, shape_hw)


def synthetic_at(draw, shape_hw):
    height, width = shape_hw
    side = float(max(height, width))
    many = draw(0, []) < 0.5
    count = tf.where(many, 4 + tf.cast(draw(1, []) * (MAX_SHAPES - 3), tf.int32),
                     tf.cast(draw(2, []) * 5, tf.int32))
    colours = draw(3, [MAX_SHAPES + 1, 3]) * 255.0  # the first is the background's
    kind = tf.cast(draw(4, [MAX_SHAPES]) * len(KINDS), tf.int32)
    centre_x = draw(5, [MAX_SHAPES]) * width
    centre_y = draw(6, [MAX_SHAPES]) * height
    half_u = (0.03 + 0.4 * draw(7, [MAX_SHAPES])) * side
    half_v = (0.03 + 0.4 * draw(8, [MAX_SHAPES])) * side
    angle = draw(9, [MAX_SHAPES]) * math.pi
    thickness = 1.0 + draw(10, [MAX_SHAPES]) * 0.02 * side
    sweep = (0.1 + 0.8 * draw(11, [MAX_SHAPES])) * 2 * math.pi

    def per_shape(values):
        return values[:, None, None]

    ys = tf.range(height, dtype=tf.float32)[None, :, None] + 0.5
    xs = tf.range(width, dtype=tf.float32)[None, None, :] + 0.5
    dx, dy = xs - per_shape(centre_x), ys - per_shape(centre_y)
    cos, sin = per_shape(tf.cos(angle)), per_shape(tf.sin(angle))
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # the shape's own axes
    a, b = per_shape(half_u), per_shape(half_v)
    inside_ellipse = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    masks = tf.stack([
        (tf.abs(v) <= per_shape(thickness) / 2) & (tf.abs(u) <= a),  # line
        inside_ellipse,
        (tf.abs(u) <= a) & (tf.abs(v) <= b),  # rectangle
        inside_ellipse & (tf.math.floormod(tf.atan2(v, u), 2 * math.pi) <= per_shape(sweep)),  # wedge
    ])  # [kinds, shapes, H, W]
    covers = tf.gather(tf.transpose(masks, [1, 0, 2, 3]), kind, batch_dims=1)  # [shapes, H, W]
    covers &= per_shape(tf.range(MAX_SHAPES) < count)
    # The last covering shape wins: the largest (shape number + 1), 0 for none.
    numbers = per_shape(tf.range(1, MAX_SHAPES + 1))
    top = tf.reduce_max(tf.where(covers, numbers, 0), axis=0)
    return tf.gather(colours, top)
