"""Moving pixels: bilinear resampling through per-image maps, in the cheapest form the maps
allow.

- `warp`: any map. Written in plain gathers and arithmetic so that XLA compiles it:
  TensorFlow's `ImageProjectiveTransformV3` has no XLA kernel and costs about 3.2 ms of CPU
  per 224x224 image here (computing the map anew for each channel), while this compiled
  takes 0.5-0.7 ms, for the same pixels (to float rounding; tests/test_augment.py compares
  them). Its cost is the four gathers of a pixel's neighbours, about 0.1 ms each.
- `separable`: maps that move x and y independently (zoom, shifts, flips). Bilinear
  interpolation is then a pass along rows and one along columns, two taps each: gathering
  whole rows is a copy (height_shift 0.14 against warp's 0.57 ms), columns cost half of
  warp (width_shift 0.27 against 0.53 ms).
- `along`: one such pass.
- `reverse`: flips alone, which move pixel centres onto pixel centres.
"""

from pyramid.importers import tf


def warp(images, inverse, projective=True):
    """Resample `images` [B, H, W, C] through the output-to-input maps `inverse` [B, 3, 3]
    (continuous coordinates): bilinear, borders filled with the nearest pixel.

    `projective=False` promises the maps' last rows are [0, 0, 1] (no perspective) and
    skips the division by the homogeneous coordinate."""
    height, width = images.shape[1], images.shape[2]
    channels = images.shape[3]
    # Output pixel centres, through the maps, in input pixel indices (centres at +0.5).
    xs = tf.range(width, dtype=tf.float32)[None, None, :] + 0.5
    ys = tf.range(height, dtype=tf.float32)[None, :, None] + 0.5
    m = inverse[:, :, :, None, None]  # [B, 3, 3, 1, 1]
    sx = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    sy = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    if projective:
        z = m[:, 2, 0] * xs + m[:, 2, 1] * ys + m[:, 2, 2]
        sx, sy = sx / z, sy / z
    (x0, x1), fx = neighbours(sx - 0.5, width)
    (y0, y1), fy = neighbours(sy - 0.5, height)
    fx, fy = fx[..., None], fy[..., None]

    pixels = tf.reshape(images, [-1, channels])
    first_row = tf.range(tf.shape(images)[0])[:, None, None] * height

    def at(rows, cols):
        return tf.gather(pixels, (first_row + rows) * width + cols)

    top_left, top_right = at(y0, x0), at(y0, x1)
    bottom_left, bottom_right = at(y1, x0), at(y1, x1)
    top = top_left + fx * (top_right - top_left)
    bottom = bottom_left + fx * (bottom_right - bottom_left)
    return top + fy * (bottom - top)


def neighbours(source, size):
    """((low, high) int32 indices, fraction) of linear interpolation at the pixel-index
    coordinates `source`, clamped into [0, size - 1] first: borders take the nearest pixel."""
    last = size - 1.0
    source = tf.clip_by_value(source, 0.0, last)
    low = tf.floor(source)
    high = tf.minimum(low + 1.0, last)
    return (tf.cast(low, tf.int32), tf.cast(high, tf.int32)), source - low


def separable(images, inverse, rows=True, columns=True):
    """`warp` for maps whose x depends on x only and y on y only ([B, 3, 3], no rotation,
    shear or perspective): a pass along each axis the maps move (`rows`: y, `columns`: x)."""
    height, width = images.shape[1], images.shape[2]
    if rows:
        ys = tf.range(height, dtype=tf.float32)[None, :] + 0.5
        images = along(images, 1, *neighbours(inverse[:, 1, 1, None] * ys + inverse[:, 1, 2, None] - 0.5, height))
    if columns:
        xs = tf.range(width, dtype=tf.float32)[None, :] + 0.5
        images = along(images, 2, *neighbours(inverse[:, 0, 0, None] * xs + inverse[:, 0, 2, None] - 0.5, width))
    return images


def along(images, axis, indices, fraction):
    """Linear interpolation along image `axis` (1: rows, 2: columns) of [B, H, W, C] images,
    between the (low, high) `indices` with `fraction` ([B, size along `axis`] each)."""
    low, high = (tf.gather(images, index, axis=axis, batch_dims=1) for index in indices)
    fraction = fraction[:, :, None, None] if axis == 1 else fraction[:, None, :, None]
    return low + fraction * (high - low)


def reverse(images, flips):
    """Reverse the images along image axis 2 (columns) or 1 (rows) where `flips`
    {axis: [B] bool} says."""
    for axis, flip in flips.items():
        images = tf.where(flip[:, None, None, None], tf.reverse(images, [axis]), images)
    return images
