"""The one place pyramid_generate reaches the training engine's augmentations.

Everything generation needs from `pyramid.data.augment` and `pyramid.data.augmentation_settings`
is imported here and nowhere else, so a change of where those live touches this file only.
The TensorFlow half is imported on first use, so the config can be checked without TensorFlow.

What generation relies on:
- `Augmenter(parameters, seed)`: `geometry(draws, height, width)` gives per-image forward and
  inverse 3x3 matrices in continuous pixel coordinates ((0, 0) the top-left corner of the
  top-left pixel); `photometric(images, draws)` changes the pixels of float32 [B, H, W, 3]
  images (0..255); calling it augments whole images;
- `Draws(seed, index, count)`: the per-image random numbers of `count` images, one stateless
  stream per (seed, index).
"""

from pyramid.data import augmentation_settings as _settings

NAMES = _settings.NAMES
ALIASES = _settings.ALIASES
NUMERIC = _settings.NUMERIC
active_parameters = _settings.active_parameters


def augmenter(parameters, seed):
    from pyramid.data.augment import Augmenter

    return Augmenter(parameters, seed)


def draws(seed, index, count):
    from pyramid.data.augment import Draws

    return Draws(seed, index, count)
