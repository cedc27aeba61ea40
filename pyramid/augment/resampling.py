"""Moving pixels: one bilinear resampling through per-image maps, or plain reversal.

`warp` is written in plain gathers and arithmetic so that XLA compiles it: TensorFlow's
`ImageProjectiveTransformV3` has no XLA kernel and costs about 3.2 ms of CPU per 224x224
image here (computing the map anew for each channel), while this compiled takes about
0.9 ms, for the same pixels (to float rounding; tests/test_augment.py compares them).
"""

from pyramid.importers import tf


def warp(images, inverse):
    """Resample `images` [B, H, W, C] through the output-to-input maps `inverse` [B, 3, 3]
    (continuous coordinates): bilinear, borders filled with the nearest pixel."""
    height, width = images.shape[1], images.shape[2]
    channels = images.shape[3]
    # Output pixel centres, through the maps, in input pixel indices (centres at +0.5).
    xs = tf.range(width, dtype=tf.float32)[None, None, :] + 0.5
    ys = tf.range(height, dtype=tf.float32)[None, :, None] + 0.5
    m = inverse[:, :, :, None, None]  # [B, 3, 3, 1, 1]
    z = m[:, 2, 0] * xs + m[:, 2, 1] * ys + m[:, 2, 2]
    sx = (m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]) / z - 0.5
    sy = (m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]) / z - 0.5
    # Nearest border: clamp the coordinate into the image before interpolating.
    sx = tf.clip_by_value(sx, 0.0, width - 1.0)
    sy = tf.clip_by_value(sy, 0.0, height - 1.0)
    x0, y0 = tf.floor(sx), tf.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    x1, y1 = tf.minimum(x0 + 1, width - 1), tf.minimum(y0 + 1, height - 1)

    pixels = tf.reshape(images, [-1, channels])
    first_row = tf.range(tf.shape(images)[0])[:, None, None] * height

    def at(rows, cols):
        return tf.gather(pixels, (first_row + rows) * width + cols)

    top_left, top_right = at(y0, x0), at(y0, x1)
    bottom_left, bottom_right = at(y1, x0), at(y1, x1)
    top = top_left + fx * (top_right - top_left)
    bottom = bottom_left + fx * (bottom_right - bottom_left)
    return top + fy * (bottom - top)


def reverse(images, flips):
    """Reverse the images along image axis 2 (columns) or 1 (rows) where `flips`
    {axis: [B] bool} says."""
    for axis, flip in flips.items():
        images = tf.where(flip[:, None, None, None], tf.reverse(images, [axis]), images)
    return images
