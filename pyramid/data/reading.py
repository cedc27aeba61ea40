"""Reading image files into exactly the pixels sensenet feeds its networks.

sensenet decodes a file with `decode_jpeg(channels=3, dct_method="INTEGER_ACCURATE")` (which
also reads PNG and GIF), casts to float32 and rescales with nearest-neighbour resizing
(`sensenet.preprocess.image.rescale`). Training must see the same pixels, or the deepnet we
write predicts differently from the network we trained. Everything here is TensorFlow graph
code so it runs inside tf.data.

A rescaled image is carried as three parts so that it can be kept in memory as uint8:
`pixels` (uint8 [H, W, 3], zero outside the content), `content_hw` (the rows and columns the
resized image covers; less than [H, W] only for `pad`) and `fill` (the float value sensenet
pads with: the mean of the resized image). `fill_padding` turns the parts back into sensenet's
float32 image.
"""

import os

from PIL import Image, UnidentifiedImageError

from pyramid.config import RESCALE_TYPES
from pyramid.errors import ImageFileError
from pyramid.importers import tf

JPEG_DCT_METHOD = "INTEGER_ACCURATE"
READABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
# Pillow modes of BMP files whose pixels are palette indices; TensorFlow's BMP decoder
# ignores the palette, so these would be read as garbage.
PALETTE_MODES = ("P", "1")


def decode_image(image_bytes):
    """uint8 [h, w, 3] from JPEG, PNG, GIF (first frame) or BMP bytes, as sensenet reads them."""
    is_bmp = tf.equal(tf.strings.substr(image_bytes, 0, 2), b"BM")
    return tf.cond(
        is_bmp,
        lambda: tf.io.decode_bmp(image_bytes, channels=3),
        lambda: tf.io.decode_jpeg(image_bytes, channels=3, dct_method=JPEG_DCT_METHOD),
    )


def _scaled_size(in_hw, out_hw, rescale_type):
    """sensenet's scaled size for pad (fit inside) and crop (cover), unrounded float32."""
    in_hw = tf.cast(in_hw, tf.float32)
    out_hw = tf.cast(out_hw, tf.float32)
    scales = out_hw / in_hw
    if rescale_type == "pad":
        scale = tf.reduce_min(scales)
    else:
        scale = tf.reduce_max(scales)
    return in_hw * scale


def rescale(image, shape_hw, rescale_type):
    """Rescale a decoded uint8 [h, w, 3] image to `shape_hw` the way sensenet does.

    Returns (pixels uint8 [H, W, 3], content_hw int32 [2], fill float32 []).
    """
    height, width = shape_hw
    out_hw = tf.constant([height, width], tf.int32)

    if rescale_type == "warp":
        pixels = tf.image.resize(image, out_hw, method="nearest")
        return _parts(pixels, shape_hw, out_hw, tf.constant(0.0))

    scaled_hw = _scaled_size(tf.shape(image)[:2], out_hw, rescale_type)
    int_hw = tf.cast(tf.math.round(scaled_hw), tf.int32)
    scaled = tf.image.resize(image, int_hw, method="nearest")

    if rescale_type == "pad":
        # sensenet pads bottom and right with the mean of the resized image, in float32.
        fill = tf.reduce_mean(tf.cast(scaled, tf.float32))
        pad = [[0, height - int_hw[0]], [0, width - int_hw[1]], [0, 0]]
        return _parts(tf.pad(scaled, pad), shape_hw, int_hw, fill)

    if rescale_type == "crop":
        # The window offset uses the unrounded scaled size, rounded half to even.
        offset = tf.cast(tf.math.round((scaled_hw - tf.cast(out_hw, tf.float32)) / 2), tf.int32)
        pixels = scaled[offset[0] : offset[0] + height, offset[1] : offset[1] + width, :]
        return _parts(pixels, shape_hw, out_hw, tf.constant(0.0))

    raise ValueError("rescale_type %r is not one of %s" % (rescale_type, RESCALE_TYPES))


def _parts(pixels, shape_hw, content_hw, fill):
    pixels = tf.ensure_shape(pixels, [shape_hw[0], shape_hw[1], 3])
    return pixels, tf.cast(content_hw, tf.int32), tf.cast(fill, tf.float32)


def fill_padding(pixels, content_hw, fill):
    """float32 images from the parts `rescale` returns; works on one image or a batch."""
    images = tf.cast(pixels, tf.float32)
    batched = len(pixels.shape) == 4
    if not batched:
        images, content_hw, fill = images[None], content_hw[None], fill[None]

    rows = tf.range(tf.shape(images)[1])[None, :, None]
    cols = tf.range(tf.shape(images)[2])[None, None, :]
    inside = (rows < content_hw[:, 0, None, None]) & (cols < content_hw[:, 1, None, None])
    images = tf.where(inside[..., None], images, fill[:, None, None, None])
    return images if batched else images[0]


def read_parts(path, shape_hw, rescale_type):
    """Read, decode and rescale one file: (pixels, content_hw, fill)."""
    return rescale(decode_image(tf.io.read_file(path)), shape_hw, rescale_type)


def read_image(path, shape_hw, rescale_type):
    """float32 [H, W, 3] pixels of one file, exactly as sensenet computes them."""
    return fill_padding(*read_parts(path, shape_hw, rescale_type))


def check_image_file(path):
    """Raise ImageFileError unless `path` looks like an image TensorFlow can decode.

    Reads only the file header (fast); a file whose body is corrupt is caught when it is
    decoded (see `pyramid.data.images`).
    """
    if not os.path.isfile(path):
        raise ImageFileError(path, "no such file")
    try:
        with Image.open(path) as image:
            image_format, mode = image.format, image.mode
    except (UnidentifiedImageError, OSError) as error:
        raise ImageFileError(path, "not an image file (%s)" % error) from None

    if image_format not in READABLE_FORMATS:
        allowed = ", ".join(READABLE_FORMATS)
        raise ImageFileError(path, "%s images are not supported; use %s" % (image_format, allowed))
    if image_format == "BMP" and mode in PALETTE_MODES:
        raise ImageFileError(path, "palette BMP images are not supported; convert it to PNG")
