"""Each file is decoded as sensenet decodes it (its decoder chosen by the file name), or
refused before training with the reason: a corpus of awkward files."""

import numpy as np
import pytest

from awkward_images import EXPECTED, MATCH, write_corpus
from pyramid.data import reading
from pyramid.errors import ImageFileError
from pyramid.importers import tf
from sensenet.load import to_image_pixels
from test_reading import sensenet_pixels

MATCHED = sorted(name for name, expected in EXPECTED.items() if expected == MATCH)
REFUSED = sorted(name for name, expected in EXPECTED.items() if expected != MATCH)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("awkward")))


@pytest.mark.parametrize("name", MATCHED)
def test_decoded_pixels_are_sensenets(corpus, name):
    path = corpus[name]
    decoder = reading.choose_decoder(path)
    ours = reading.DECODERS[decoder](tf.io.read_file(path)).numpy()
    theirs = to_image_pixels(path, None)
    assert ours.dtype == np.uint8 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


# The wide images padded into this shape are the next test's.
RESCALED = [(name, rescale_type) for name in MATCHED for rescale_type in reading.RESCALE_TYPES
            if not (name.startswith("wide") and rescale_type == "pad")]


@pytest.mark.parametrize("name, rescale_type", RESCALED)
def test_rescaled_pixels_are_sensenets(corpus, name, rescale_type):
    ours = reading.read_image(corpus[name], (24, 20), rescale_type).numpy()
    np.testing.assert_array_equal(ours, sensenet_pixels(corpus[name], (24, 20), rescale_type))


@pytest.mark.parametrize("name", ["wide.jpg", "wide.png"])
def test_a_side_padded_to_nothing_is_refused(corpus, name):
    # 4000x40 padded into 20x24 would be 20x0: sensenet cannot rescale it either.
    with pytest.raises(tf.errors.InvalidArgumentError):
        sensenet_pixels(corpus[name], (24, 20), "pad")
    with pytest.raises(ImageFileError, match="its 4000x40 pixels fit into 20x24 .rescale_type pad. as 20x0"):
        reading.choose_decoder(corpus[name], (24, 20), "pad")
    assert reading.choose_decoder(corpus[name], (224, 224), "pad") == "jpeg"
    np.testing.assert_array_equal(reading.read_image(corpus[name], (224, 224), "pad").numpy(),
                                  sensenet_pixels(corpus[name], (224, 224), "pad"))


@pytest.mark.parametrize("name", REFUSED)
def test_files_sensenet_reads_otherwise_are_refused_with_the_reason(corpus, name):
    with pytest.raises(ImageFileError) as error:
        reading.choose_decoder(corpus[name])
    message = str(error.value)
    assert message.startswith("cannot read image %s: " % corpus[name])
    assert EXPECTED[name] in message


def test_a_mixed_source_switches_decoders_per_file(corpus):
    from pyramid.data.datasets import MemoryImages

    names = ["animated.gif", "bitmap.bmp", "photo.jfif", "lossy.webp", "rgb16.png"]
    paths = [corpus[name] for name in names]
    decoders = [reading.choose_decoder(path) for path in paths]
    assert decoders == ["gif", "bmp", "jpeg", "webp", "jpeg"]
    images = MemoryImages(paths, decoders, (24, 20), "pad")
    rows = tf.data.Dataset.range(len(paths))
    batch = next(iter(images.batches(rows, len(paths), False)))["image"]
    for path, pixels in zip(paths, batch.numpy()):
        np.testing.assert_array_equal(pixels, sensenet_pixels(path, (24, 20), "pad"))
