"""Every augmentation, in one table: its module, its default `n` and the largest `n` allowed.

Plain data, without TensorFlow, so that configs validate against it before TensorFlow
loads. The names configs accept (`NAMES`) are this table's keys; each augmentation is the
module of the same name in this package (`pyramid/augment/<name>.py`), whose class says
what `n` means (and the README, "Augmentations"). To add one: write its module and add its
line here.

The table's order is the order of application: the geometric ones (composed into one
resampling), then the pixel ones.
"""

import importlib
from typing import NamedTuple


class Entry(NamedTuple):
    default: float  # the n used when a config asks for the augmentation without one
    largest: float | None  # the largest n allowed; None: on or off (any truthy value)


def numeric(default, largest):
    return Entry(default, largest)


def on_off():
    """Fires with probability 0.5 when on."""
    return Entry(1.0, None)


AUGMENTATIONS = {
    "deform": numeric(0.1, 0.5),
    "rotation": numeric(10.0, 180.0),
    "shear": numeric(10.0, 80.0),
    "zoom": numeric(0.1, 0.9),
    "width_shift": numeric(0.1, 1.0),
    "height_shift": numeric(0.1, 1.0),
    "horizontal_flip": on_off(),
    "vertical_flip": on_off(),
    "blur": numeric(0.5, 0.95),
    "brightness": numeric(0.1, 1.0),
    "contrast": numeric(0.25, 1.0),
    "tint": numeric(0.1, 1.0),
    "color_invert": on_off(),
    "gaussian_noise": numeric(0.1, 1.0),
    "glare": numeric(0.1, 1.0),
    "cutout": numeric(0.25, 1.0),
}

NAMES = tuple(sorted(AUGMENTATIONS))
# name: (default n, largest allowed n), for those that take a number.
NUMERIC = {name: (entry.default, entry.largest) for name, entry in sorted(AUGMENTATIONS.items())
           if entry.largest is not None}
BOOLEAN = tuple(name for name in NAMES if AUGMENTATIONS[name].largest is None)
# Spellings the product README uses for the flips.
ALIASES = {"flip_horizontal": "horizontal_flip", "flip_vertical": "vertical_flip"}


def default_parameter(name):
    return AUGMENTATIONS[name].default


def build(name, n):
    """The augmentation `name` with parameter `n` (imports TensorFlow)."""
    module = importlib.import_module("pyramid.augment." + name)
    return module.AUGMENTATION(name, n)


def active_parameters(image_augmentations, augmentation_ranges):
    """{name: n} of the augmentations to apply, from the two config keys (already validated).

    `augmentation_ranges` wins when both are given. null means the default; 0 or false
    switches an augmentation off; booleans become 1.0.
    """
    if augmentation_ranges:
        requested = dict(augmentation_ranges)
    else:
        requested = {name: None for name in image_augmentations}

    active = {}
    for name, value in requested.items():
        name = ALIASES.get(name, name)
        if value is None:
            value = default_parameter(name)
        elif name in BOOLEAN:
            value = 1.0 if value else 0.0
        if value:
            active[name] = float(value)
    return active
