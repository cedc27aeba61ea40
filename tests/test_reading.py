"""Reading images: every format and mode becomes RGB, with exactly sensenet's pixels."""

import os

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

from pyramid.data import reading
from pyramid.data.datasets import MemoryImages, decode_all
from pyramid.errors import ImageFileError
from pyramid.importers import tf
from sensenet.load import to_image_pixels
from sensenet.models.settings import Settings
from sensenet.preprocess.image import rescale as sensenet_rescale

# (height, width) crops of a real photo: wide, tall, square, extreme and odd sizes.
CROPS = [(120, 200), (200, 120), (96, 96), (40, 230), (230, 31), (67, 45)]
TARGETS = [(32, 32), (24, 40), (48, 20)]


def sensenet_pixels(path, shape_hw, rescale_type):
    """What sensenet feeds its network for this file: its reader, then its rescale."""
    image = to_image_pixels(path, None).astype(np.float32)[None]
    settings = Settings({"rescale_type": rescale_type})
    target = [None, shape_hw[0], shape_hw[1], 3]
    return sensenet_rescale(settings, target, tf.constant(image)).numpy()[0]


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    """Crops of scikit-learn's sample photos saved in every format and colour mode."""
    directory = tmp_path_factory.mktemp("photos")
    china, flower = load_sample_images().images
    files = []
    for index, (height, width) in enumerate(CROPS):
        photo = (china if index % 2 else flower)[:height, 50 : 50 + width]
        rgb = Image.fromarray(photo)
        variants = {
            "rgb.png": rgb,
            "rgb.jpg": rgb,
            "grey.png": rgb.convert("L"),
            "grey.jpg": rgb.convert("L"),
            "palette.png": rgb.convert("P"),
            "rgba.png": rgb.convert("RGBA"),
            "anim.gif": rgb,
            "rgb.bmp": rgb,
            "grey.bmp": rgb.convert("L"),
        }
        for suffix, image in variants.items():
            path = str(directory / ("%d_%s" % (index, suffix)))
            image.save(path)
            files.append(path)
        # 16-bit greyscale PNG (sensenet reads .png with TensorFlow, which scales to 8 bits).
        deep = (np.asarray(rgb.convert("L")).astype(np.uint16) * 257 + 7).astype(np.uint16)
        path = str(directory / ("%d_grey16.png" % index))
        Image.fromarray(deep).save(path)
        files.append(path)
    return files


@pytest.mark.parametrize("rescale_type", reading.RESCALE_TYPES)
def test_pixels_equal_sensenet(photo_files, rescale_type):
    for path in photo_files:
        for shape in TARGETS:
            ours = reading.read_image(path, shape, rescale_type).numpy()
            theirs = sensenet_pixels(path, shape, rescale_type)
            assert ours.shape == (shape[0], shape[1], 3)
            assert ours.dtype == np.float32
            np.testing.assert_array_equal(ours, theirs, err_msg="%s %s %s" % (path, shape, rescale_type))


def test_every_mode_becomes_rgb(photo_files):
    for path in photo_files:
        image = reading.DECODERS[reading.choose_decoder(path)](tf.io.read_file(path)).numpy()
        with Image.open(path) as original:
            assert image.shape == (original.height, original.width, 3), path
        if "grey" in path:
            assert np.array_equal(image[..., 0], image[..., 2]), path


def test_memory_images_keep_sensenet_pixels(photo_files):
    """uint8 storage plus the pad fill rebuilds exactly the float pixels, pad included."""
    paths = [p for p in photo_files if p.endswith(("rgb.png", "rgb.jpg"))]
    for rescale_type in reading.RESCALE_TYPES:
        images = MemoryImages(paths, ["jpeg"] * len(paths), (32, 40), rescale_type)
        rows = tf.data.Dataset.from_tensor_slices(tf.range(len(paths), dtype=tf.int64))
        batch = next(iter(images.batches(rows, len(paths), False)))["image"]
        for path, pixels in zip(paths, batch.numpy()):
            np.testing.assert_array_equal(pixels, sensenet_pixels(path, (32, 40), rescale_type))


def test_pad_fills_with_the_mean_and_crop_centres(tmp_path):
    # A wide image: 10 rows of 0 on top of 10 rows of 200, 40 columns.
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[10:] = 200
    path = str(tmp_path / "wide.png")
    Image.fromarray(pixels).save(path)

    padded = reading.read_image(path, (40, 40), "pad").numpy()
    assert np.all(padded[:10] == 0) and np.all(padded[10:20] == 200)
    assert np.allclose(padded[20:], 100.0)  # bottom padding: mean of the resized image

    cropped = reading.read_image(path, (20, 20), "crop").numpy()
    assert np.all(cropped[:10] == 0) and np.all(cropped[10:] == 200)

    warped = reading.read_image(path, (10, 10), "warp").numpy()
    assert np.all(warped[:5] == 0) and np.all(warped[5:] == 200)


def test_unreadable_files_are_named(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(ImageFileError, match="notes.png"):
        reading.choose_decoder(str(text))

    with pytest.raises(ImageFileError, match="missing.png: no such file"):
        reading.choose_decoder(str(tmp_path / "missing.png"))

    tiff = str(tmp_path / "scan.tiff")
    Image.new("RGB", (8, 8)).save(tiff)
    with pytest.raises(ImageFileError, match="scan.tiff: TIFF images are not supported"):
        reading.choose_decoder(tiff)

    palette_bmp = str(tmp_path / "palette.bmp")
    Image.new("RGB", (8, 8), (200, 10, 10)).convert("P").save(palette_bmp)
    with pytest.raises(ImageFileError, match="palette.bmp: palette BMP"):
        reading.choose_decoder(palette_bmp)


def test_truncated_file_is_named_when_decoded(tmp_path):
    good = str(tmp_path / "good.jpg")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(good)
    truncated = str(tmp_path / "truncated.jpg")
    with open(good, "rb") as stream:
        data = stream.read()
    with open(truncated, "wb") as stream:
        stream.write(data[: len(data) // 3])

    with pytest.raises(ImageFileError, match="truncated.jpg"):
        decode_all([good, truncated], ["jpeg", "jpeg"], (16, 16), "crop")
    assert os.path.exists(truncated)
