"""Reading image files into exactly the pixels sensenet feeds its networks.

sensenet chooses its decoder by the file's name (`sensenet.load.to_image_pixels`): a name
ending in .jpg, .jpeg or .png (any case) is decoded by TensorFlow's
`decode_jpeg(channels=3, dct_method="INTEGER_ACCURATE")`, whatever the bytes hold; any other
name by Pillow's `Image.open(...).convert("RGB")`. It then casts to float32 and rescales with
nearest-neighbour resizing (`sensenet.preprocess.image.rescale`). Training must see the same
pixels, or the deepnet we write predicts differently from the network we trained.

`choose_decoder` makes the same choice from the name and, for Pillow's names, picks the
TensorFlow decoder that gives Pillow's pixels exactly (checked on a corpus of awkward files
in tests/test_decoding.py). A file for which no decoder gives sensenet's pixels, or which
sensenet cannot read at all, is refused before training with the reason (`ImageFileError`).
Decoding and rescaling are TensorFlow graph code, so they run inside tf.data.

A rescaled image is carried as three parts so that it can be kept in memory as uint8:
`pixels` (uint8 [H, W, 3], zero outside the content), `content_hw` (the rows and columns the
resized image covers; less than [H, W] only for `pad`) and `fill` (the float value sensenet
pads with: the mean of the resized image). `fill_padding` turns the parts back into sensenet's
float32 image.
"""

import functools
import os
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from pyramid.config import RESCALE_TYPES
from pyramid.errors import ImageFileError
from pyramid.importers import tf

JPEG_DCT_METHOD = "INTEGER_ACCURATE"
# sensenet.load.TF_IMAGE_TYPES: files so named are decoded by TensorFlow, others by Pillow.
TENSORFLOW_SUFFIXES = (".jpg", ".jpeg", ".png")

# Each decoder: bytes -> uint8 [h, w, 3].
DECODERS = {
    # sensenet's own op. For Pillow's names it also gives Pillow's pixels for JPEG (grey,
    # CMYK and progressive too; neither applies EXIF orientation), 8- and 16-bit RGB(A) PNG,
    # grey, grey+alpha and palette PNG, and single-frame GIF.
    "jpeg": lambda data: tf.io.decode_jpeg(data, channels=3, dct_method=JPEG_DCT_METHOD),
    "gif": lambda data: tf.io.decode_gif(data)[0],  # the first frame, as Pillow reads it
    "bmp": lambda data: tf.io.decode_bmp(data, channels=3),
    # Native channels, alpha dropped as Pillow's convert("RGB") drops it (decode_webp cannot
    # convert RGBA to 3 channels itself).
    "webp": lambda data: tf.io.decode_webp(data)[0][..., :3],
}
# Pillow formats and the decoder that matches Pillow for them (when the name is Pillow's).
PILLOW_FORMATS = {"JPEG": "jpeg", "PNG": "jpeg", "GIF": "gif", "BMP": "bmp", "WEBP": "webp"}
# Formats TensorFlow's JPEG op reads as one image (for sensenet's TensorFlow names);
# animations excepted. (It reads a WebP as a one-frame animation, which sensenet cannot use.)
JPEG_OP_FORMATS = ("JPEG", "PNG", "GIF")
# Pillow modes of BMP files whose pixels are palette indices; TensorFlow's BMP decoder
# ignores the palette.
PALETTE_MODES = ("P", "1")
# Pillow modes of 16-bit greyscale PNGs: Pillow's convert("RGB") saturates them (TensorFlow
# scales them to 8 bits), so sensenet's pixels under a Pillow name cannot be matched.
SIXTEEN_BIT_GREY_MODES = ("I", "I;16", "I;16B", "I;16L")


class ImageInfo(NamedTuple):
    decoder: str  # a name in DECODERS
    height: int  # of the image as stored
    width: int


def choose_decoder(path, shape_hw=None, rescale_type=None):
    """The name of the decoder in DECODERS that gives sensenet's pixels for the file at
    `path` (see `inspect_image`)."""
    return inspect_image(path, shape_hw, rescale_type).decoder


def inspect_image(path, shape_hw=None, rescale_type=None):
    """The file's ImageInfo, from its header: the decoder that gives sensenet's pixels, and
    its size. ImageFileError when sensenet cannot read it or no decoder matches it, or (when
    `shape_hw` and `rescale_type` are given) when it cannot be rescaled to that shape."""
    if not os.path.isfile(path):
        raise ImageFileError(path, "no such file")
    try:
        with Image.open(path) as image:
            image_format, mode = image.format, image.mode
            frames = getattr(image, "n_frames", 1)
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise ImageFileError(path, "not an image file (%s)" % error) from None
    decoder = _decoder_for(path, image_format, mode, frames)
    if shape_hw is not None:
        _check_rescalable(path, (height, width), shape_hw, rescale_type)
    return ImageInfo(decoder, height, width)


def _decoder_for(path, image_format, mode, frames):
    """sensenet's choice by name, then the decoder that matches it for this content."""
    if path.lower().endswith(TENSORFLOW_SUFFIXES):
        if image_format not in JPEG_OP_FORMATS or frames > 1:
            suffix = os.path.splitext(path)[1]
            what = "an animated %s" % image_format if frames > 1 else "a %s file" % image_format
            if image_format in PILLOW_FORMATS:
                fix = "rename it .%s (sensenet then reads it with Pillow)" % image_format.lower()
            else:
                fix = "convert it to PNG or JPEG"
            raise ImageFileError(path, "it is %s named %s; sensenet decodes %s files with "
                                 "TensorFlow's JPEG decoder, which cannot read it: %s"
                                 % (what, suffix, suffix, fix))
        return "jpeg"

    if image_format not in PILLOW_FORMATS:
        allowed = ", ".join(sorted(PILLOW_FORMATS))
        raise ImageFileError(path, "%s images are not supported; use %s" % (image_format, allowed))
    if image_format == "BMP" and mode in PALETTE_MODES:
        raise ImageFileError(path, "palette BMP images are not supported; convert it to PNG")
    if image_format == "PNG" and mode in SIXTEEN_BIT_GREY_MODES:
        raise ImageFileError(path, "a 16-bit greyscale PNG without a .png name: sensenet reads "
                             "it with Pillow, which saturates it; name it .png")
    if image_format == "WEBP" and frames > 1:
        raise ImageFileError(path, "animated WebP images are not supported; use its first frame")
    return PILLOW_FORMATS[image_format]


def _check_rescalable(path, in_hw, shape_hw, rescale_type):
    # `pad` of a very long image can round a side to no pixel at all (sensenet fails there).
    if rescale_type != "pad":
        return
    in_hw = np.asarray(in_hw, np.float32)
    scaled = np.round(in_hw * np.min(np.asarray(shape_hw, np.float32) / in_hw))
    if scaled.min() < 1:
        raise ImageFileError(path, "its %dx%d pixels fit into %dx%d (rescale_type pad) as %dx%d: "
                             "no pixel is left of one side" % (in_hw[1], in_hw[0], shape_hw[1],
                                                              shape_hw[0], scaled[1], scaled[0]))


def decoding(decoders):
    """A function (image_bytes, file_index) -> uint8 [h, w, 3] for files whose decoders are
    `decoders` (a name per file): that decoder when all agree, else a switch on the file's."""
    names = sorted(set(decoders))
    if len(names) == 1:
        decode = DECODERS[names[0]]
        return lambda data, index: decode(data)
    ids = tf.constant([names.index(name) for name in decoders], tf.int32)

    def decode(data, index):
        branches = [functools.partial(DECODERS[name], data) for name in names]
        return tf.switch_case(tf.gather(ids, index), branches)

    return decode


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


def fill_padding(pixels, content_hw, fill, padded=True):
    """float32 images from the parts `rescale` returns; works on one image or a batch.

    `padded=False` (rescale types other than "pad", whose content fills the image) only
    casts: the mask below costs as much as the cast and changes nothing then."""
    images = tf.cast(pixels, tf.float32)
    if not padded:
        return images
    batched = len(pixels.shape) == 4
    if not batched:
        images, content_hw, fill = images[None], content_hw[None], fill[None]

    rows = tf.range(tf.shape(images)[1])[None, :, None]
    cols = tf.range(tf.shape(images)[2])[None, None, :]
    inside = (rows < content_hw[:, 0, None, None]) & (cols < content_hw[:, 1, None, None])
    images = tf.where(inside[..., None], images, fill[:, None, None, None])
    return images if batched else images[0]


def read_parts(path, decoder, shape_hw, rescale_type):
    """Read, decode (with the DECODERS entry named `decoder`) and rescale one file:
    (pixels, content_hw, fill)."""
    return rescale(DECODERS[decoder](tf.io.read_file(path)), shape_hw, rescale_type)


def read_image(path, shape_hw, rescale_type):
    """float32 [H, W, 3] pixels of the file at `path` (a str), exactly as sensenet computes
    them."""
    return fill_padding(*read_parts(path, choose_decoder(path), shape_hw, rescale_type))
