"""Foregrounds and backgrounds decoded once into fixed-size tensors the graph gathers from.

Foregrounds: every image, read as RGBA, shrunk (never enlarged) to fit a square tile of side
`tile_side` and centred in it, transparent around. Each is stored with its straight
(not premultiplied) colours and its alpha; resizing is done on premultiplied colours, so the
colour of transparent pixels never bleeds into the object's edge. The tile is as large as the
largest foreground can appear, so placing it hardly ever enlarges it.

Backgrounds: every photo resized to cover a canvas BACKGROUND_MARGIN times the output size
(keeping its aspect, centred), from which each example crops a random part.
"""

import math
from typing import NamedTuple

from pyramid.errors import ImageFileError
from pyramid.importers import tf

MIN_TILE, MAX_TILE = 16, 512
BACKGROUND_MARGIN = 1.5  # the canvas a background is cropped from, times the output size


class ForegroundBank(NamedTuple):
    tiles: tf.Tensor  # uint8 [N, S, S, 4], straight RGB and alpha
    content: tf.Tensor  # float32 [N, 4]: x1, y1, x2, y2 of the image within its tile
    labels: tf.Tensor  # int32 [N]
    runs: tf.Tensor  # int32 [labels, 2]: first index and count of each label's images


class BackgroundBank(NamedTuple):
    photos: tf.Tensor  # uint8 [N, Hb, Wb, 3]


def tile_side(config):
    """Room for the largest occupancy (at most twice the output's larger side)."""
    largest = min(config.occupancy_range[1], 2.0) * max(config.image_shape_hw)
    return int(min(MAX_TILE, max(MIN_TILE, math.ceil(largest))))


def decode(path, channels):
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        raise ImageFileError(path, error.message.splitlines()[0] if error.message else "cannot decode") from None
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageFileError(path, "the image is empty")
    return image


def load_foregrounds(images, side):
    tiles, content = [], []
    for path in images.paths:
        rgba = tf.cast(decode(path, 4), tf.float32)
        height, width = int(rgba.shape[0]), int(rgba.shape[1])
        scale = min(1.0, side / max(height, width))
        if scale < 1.0:
            height, width = max(1, round(height * scale)), max(1, round(width * scale))
            alpha = rgba[..., 3:] / 255.0
            premultiplied = tf.concat([rgba[..., :3] * alpha, alpha], axis=-1)
            resized = tf.image.resize(premultiplied, [height, width], method="area")
            alpha = resized[..., 3:]
            rgb = tf.math.divide_no_nan(resized[..., :3], alpha)
            rgba = tf.concat([rgb, alpha * 255.0], axis=-1)
        top, left = (side - height) // 2, (side - width) // 2
        tile = tf.image.pad_to_bounding_box(rgba, top, left, side, side)
        tiles.append(tf.cast(tf.clip_by_value(tf.round(tile), 0, 255), tf.uint8))
        content.append([left, top, left + width, top + height])
    runs = [list(run) for run in images.per_label()]
    return ForegroundBank(tf.stack(tiles), tf.constant(content, tf.float32),
                          tf.constant(images.labels, tf.int32), tf.constant(runs, tf.int32))


def load_backgrounds(images, shape_hw):
    height, width = (math.ceil(BACKGROUND_MARGIN * size) for size in shape_hw)
    photos = []
    for path in images.paths:
        photo = tf.cast(decode(path, 3), tf.float32)
        scale = max(height / photo.shape[0], width / photo.shape[1])
        size = [max(height, round(photo.shape[0] * scale)), max(width, round(photo.shape[1] * scale))]
        photo = tf.image.resize(photo, size, method="area" if scale < 1 else "bilinear", antialias=True)
        photo = tf.image.resize_with_crop_or_pad(photo, height, width)
        photos.append(tf.cast(tf.clip_by_value(tf.round(photo), 0, 255), tf.uint8))
    return BackgroundBank(tf.stack(photos))


def memory_bytes(tiles, side, backgrounds, shape_hw):
    """What the banks will take, for a message before loading them."""
    height, width = (math.ceil(BACKGROUND_MARGIN * size) for size in shape_hw)
    return tiles * side * side * 4 + backgrounds * height * width * 3

