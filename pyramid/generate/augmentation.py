"""The one place pyramid_generate reaches the training engine's augmentations.

Everything generation needs from `pyramid.augment` is imported here and nowhere else, so a
change of where those live touches this file only. The TensorFlow half is imported on first
use, so the config can be checked without TensorFlow.

What generation relies on:
- the registry's names, aliases, numeric ranges and `active_parameters` (config checks);
- `Augmenter(parameters, seed)` called on whole images (backgrounds);
- for foregrounds, `Foreground`: the engine's per-image draws of `count` foregrounds keyed by
  (seed, index), their geometric augmentations as inverse 3x3 maps in continuous pixel
  coordinates ((0, 0) the top-left corner of the top-left pixel), which generation multiplies
  into each foreground's placement, and the other augmentations applied to their colours
  (float32 [k, S, S, 3], 0..255).
"""

from pyramid.augment import registry as _registry

NAMES = _registry.NAMES
ALIASES = _registry.ALIASES
NUMERIC = _registry.NUMERIC
active_parameters = _registry.active_parameters


def augmenter(parameters, seed, compile=True):
    """`compile=False`: the same steps without XLA (quicker to start, slower to run)."""
    from pyramid.augment.augmenter import Augmenter

    return Augmenter(parameters, seed, compile=compile)


class Foreground:
    """The foreground augmentations {name: n} of one data set, seeded by `seed`."""

    def __init__(self, parameters, seed, compile=True):
        self.engine = augmenter(parameters, seed, compile)
        self.seed = seed

    def __bool__(self):
        return bool(self.engine)

    def draw(self, index, count, side):
        """The parameters of `count` foregrounds (tiles side x side) of stream `index`."""
        from pyramid.augment.base import Draws

        return self.engine.draw(Draws(self.seed, index, count), side, side)

    def inverse(self, drawn, side):
        """[k, 3, 3] output-to-input maps of the geometric augmentations, or None."""
        return self.engine.geometry(drawn, side, side)[1]

    def colours(self, images, drawn):
        """The other augmentations applied to `images`, clipped to 0..255."""
        return self.engine.pixels(images, drawn)
