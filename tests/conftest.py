"""Shared fixtures: small real image sets written as files, and config dicts around them."""

import json
import os

import numpy as np
import pytest
from PIL import Image

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    # CI must test this checkout's code, never a copy installed from elsewhere.
    import pyramid

    where = os.path.dirname(os.path.dirname(os.path.abspath(pyramid.__file__)))
    if where != CHECKOUT:
        raise pytest.UsageError("pyramid is imported from %s, not this checkout %s" % (where, CHECKOUT))


def digit_images(count, size, seed=0):
    """`count` scikit-learn digit scans as (RGB uint8 [size, size, 3], digit) pairs."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(digits.target))[:count]
    images = []
    for row in rows:
        grey = np.round(digits.images[row] * (255.0 / 16)).astype(np.uint8)
        image = Image.fromarray(grey, "L").resize((size, size), Image.BICUBIC).convert("RGB")
        images.append((np.asarray(image), int(digits.target[row])))
    return images


def write_digits(directory, count, size=16, classes=(0, 1, 2), seed=0):
    """Write digit PNGs of the given classes into `directory`; returns training_data points."""
    os.makedirs(directory, exist_ok=True)
    points = []
    for index, (pixels, digit) in enumerate(digit_images(1797, size, seed)):
        if digit not in classes:
            continue
        name = "d%04d.png" % index
        Image.fromarray(pixels).save(os.path.join(directory, name))
        points.append({"file": name, "label": str(digit), "digit": digit, "index": index})
        if len(points) == count:
            break
    return points


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    """120 16x16 digit images of classes 0, 1 and 2."""
    directory = tmp_path_factory.mktemp("digits")
    points = write_digits(str(directory), 120)
    return str(directory), points


def training_config(image_root, output_directory, points, **overrides):
    config = {
        "image_root": image_root,
        "output_directory": output_directory,
        "input_image_shape": [16, 16, 3],
        "image_network_candidates": [["simple", "randomly_initialize"]],
        "max_total_time": 60,
        "batch_size": 16,
        "learning_rate": 0.003,
        "training_data": [{"file": p["file"], "label": p["label"]} for p in points],
    }
    config.update(overrides)
    return config


def write_config(path, config):
    with open(path, "w") as stream:
        json.dump(config, stream)
    return str(path)
