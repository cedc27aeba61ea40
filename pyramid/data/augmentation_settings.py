"""The sixteen augmentations: names, default parameters and allowed parameter ranges.

Plain data, without TensorFlow, so the config can validate against it. The meaning of each
parameter `n` is in the README ("Augmentations"); `pyramid.data.augment` implements them.
"""

# name: (default n, largest allowed n). Every n is >= 0.
NUMERIC = {
    "blur": (0.5, 0.95),
    "brightness": (0.1, 1.0),
    "contrast": (0.25, 1.0),
    "cutout": (0.25, 1.0),
    "deform": (0.1, 0.5),
    "gaussian_noise": (0.1, 1.0),
    "glare": (0.1, 1.0),
    "height_shift": (0.1, 1.0),
    "rotation": (10.0, 180.0),
    "shear": (10.0, 80.0),
    "tint": (0.1, 1.0),
    "width_shift": (0.1, 1.0),
    "zoom": (0.1, 0.9),
}
# On (any truthy value) or off; each fires with probability 0.5.
BOOLEAN = ("color_invert", "horizontal_flip", "vertical_flip")
NAMES = tuple(sorted(tuple(NUMERIC) + BOOLEAN))
# Spellings the product README uses for the flips.
ALIASES = {"flip_horizontal": "horizontal_flip", "flip_vertical": "vertical_flip"}


def default_parameter(name):
    return 1.0 if name in BOOLEAN else NUMERIC[name][0]


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
