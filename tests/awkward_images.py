"""A corpus of awkward image files, built from scikit-learn's sample photos: misleading
names, animations, colour models, bit depths and extreme sizes.

`EXPECTED` says what pyramid must do with each: "match" (decode exactly sensenet's pixels)
or the reason it refuses the file before training.
"""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

MATCH = "match"
EXPECTED = {
    # sensenet decodes these names with TensorFlow's JPEG op, whatever the content.
    "photo.JPG": MATCH,
    "photo.jpeg": MATCH,
    "progressive.jpg": MATCH,
    "cmyk.jpg": MATCH,
    "exif_rotated.jpg": MATCH,  # neither sensenet nor pyramid applies the EXIF orientation
    "png_named.jpg": MATCH,
    "still_gif_named.png": MATCH,
    "rgb16.png": MATCH,
    "rgba16.png": MATCH,
    "grey16.png": MATCH,
    "grey_alpha.png": MATCH,
    "palette_transparent.png": MATCH,
    "bilevel.png": MATCH,
    "pixel.png": MATCH,
    "pixel.jpg": MATCH,
    "wide.jpg": MATCH,
    "wide.png": MATCH,
    "bitmap_named.png": "it is a BMP file named .png; sensenet decodes .png files with TensorFlow's JPEG decoder",
    "animated_named.png": "it is an animated GIF named .png",
    "animated_named.jpg": "it is an animated GIF named .jpg",
    "tiff_named.png": "it is a TIFF file named .png",
    "webp_named.png": "it is a WEBP file named .png; sensenet decodes .png files with TensorFlow's JPEG decoder, which cannot read it: rename it .webp",
    # sensenet decodes any other name with Pillow.
    "photo.jfif": MATCH,
    "photo_without_extension": MATCH,
    "progressive.jfif": MATCH,
    "cmyk.jfif": MATCH,
    "grey.jfif": MATCH,
    "exif_rotated.jfif": MATCH,
    "subsampled444.jfif": MATCH,
    "animated.gif": MATCH,  # Pillow's first frame
    "still.gif": MATCH,
    "transparent.gif": MATCH,
    "bitmap.bmp": MATCH,
    "bitmap32.bmp": MATCH,
    "rgba_png_named.bmp": MATCH,
    "grey_alpha_png_named.gif": MATCH,
    "rgb16_png_named.gif": MATCH,
    "lossy.webp": MATCH,
    "lossless.webp": MATCH,
    "alpha.webp": MATCH,
    "grey16_png_named.gif": "a 16-bit greyscale PNG without a .png name",
    "palette.bmp": "palette BMP images are not supported",
    "animated.webp": "animated WebP images are not supported",
    "photo.tiff": "TIFF images are not supported",
    "text.png": "not an image file",
}


def _png16(array):
    """A 16-bit RGB or RGBA PNG, which Pillow cannot write."""
    height, width, channels = array.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, {3: 2, 4: 6}[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _encoded(image, image_format, **options):
    stream = io.BytesIO()
    image.save(stream, image_format, **options)
    return stream.getvalue()


def write_corpus(directory):
    """Write every file of EXPECTED into `directory`; returns their paths by name."""
    china, flower = load_sample_images().images
    rgb = Image.fromarray(china[100:220, 150:310])
    other = Image.fromarray(flower[100:220, 150:310])
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(160, dtype=np.uint8), (120, 1))))
    exif = rgb.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees"
    deep = np.asarray(rgb).astype(np.uint16) * 257 + 3
    grey16 = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257 + 5)
    wide = Image.fromarray(np.tile(np.asarray(rgb)[:40], (1, 26, 1))[:, :4000])
    pixel = Image.new("RGB", (1, 1), (10, 200, 30))
    animated = _encoded(rgb, "GIF", save_all=True, append_images=[other], duration=100)
    jpeg = _encoded(rgb, "JPEG")
    contents = {
        "photo.JPG": jpeg,
        "photo.jpeg": jpeg,
        "photo.jfif": jpeg,
        "photo_without_extension": jpeg,
        "progressive.jpg": _encoded(rgb, "JPEG", progressive=True, quality=90),
        "progressive.jfif": _encoded(rgb, "JPEG", progressive=True, quality=90),
        "cmyk.jpg": _encoded(rgb.convert("CMYK"), "JPEG"),
        "cmyk.jfif": _encoded(rgb.convert("CMYK"), "JPEG"),
        "grey.jfif": _encoded(rgb.convert("L"), "JPEG"),
        "exif_rotated.jpg": _encoded(rgb, "JPEG", exif=exif),
        "exif_rotated.jfif": _encoded(rgb, "JPEG", exif=exif),
        "subsampled444.jfif": _encoded(rgb, "JPEG", subsampling=0),
        "png_named.jpg": _encoded(rgb, "PNG"),
        "still_gif_named.png": _encoded(rgb, "GIF"),
        "webp_named.png": _encoded(rgb, "WEBP"),
        "rgb16.png": _png16(deep),
        "rgba16.png": _png16(np.concatenate([deep, np.full(deep.shape[:2] + (1,), 40000, np.uint16)], -1)),
        "rgb16_png_named.gif": _png16(deep),
        "grey16.png": _encoded(grey16, "PNG"),
        "grey16_png_named.gif": _encoded(grey16, "PNG"),
        "grey_alpha.png": _encoded(rgb.convert("LA"), "PNG"),
        "grey_alpha_png_named.gif": _encoded(rgb.convert("LA"), "PNG"),
        "palette_transparent.png": _encoded(rgb.convert("P"), "PNG", transparency=3),
        "bilevel.png": _encoded(rgb.convert("1"), "PNG"),
        "rgba_png_named.bmp": _encoded(rgba, "PNG"),
        "pixel.png": _encoded(pixel, "PNG"),
        "pixel.jpg": _encoded(pixel, "JPEG"),
        "wide.jpg": _encoded(wide, "JPEG"),
        "wide.png": _encoded(wide, "PNG"),
        "bitmap.bmp": _encoded(rgb, "BMP"),
        "bitmap32.bmp": _encoded(rgba, "BMP"),
        "bitmap_named.png": _encoded(rgb, "BMP"),
        "palette.bmp": _encoded(rgb.convert("P"), "BMP"),
        "animated.gif": animated,
        "animated_named.png": animated,
        "animated_named.jpg": animated,
        "still.gif": _encoded(rgb, "GIF"),
        "transparent.gif": _encoded(rgb.convert("P"), "GIF", transparency=0),
        "lossy.webp": _encoded(rgb, "WEBP", quality=80),
        "lossless.webp": _encoded(rgb, "WEBP", lossless=True),
        "alpha.webp": _encoded(rgba, "WEBP"),
        "animated.webp": _encoded(rgb, "WEBP", save_all=True, append_images=[other]),
        "photo.tiff": _encoded(rgb, "TIFF"),
        "tiff_named.png": _encoded(rgb, "TIFF"),
        "text.png": b"this is not an image",
    }
    assert set(contents) == set(EXPECTED)
    paths = {}
    for name, data in contents.items():
        paths[name] = os.path.join(directory, name)
        with open(paths[name], "wb") as stream:
            stream.write(data)
    return paths
