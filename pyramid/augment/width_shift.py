"""width_shift: move the image horizontally by up to n * width pixels either way (the
README's "n * height" is a slip), borders filled with the nearest pixel."""

from pyramid.augment.base import Geometric
from pyramid.augment.matrices import translation
from pyramid.importers import tf


class WidthShift(Geometric):
    separable_axes = ("x",)

    def draw(self, draws, height, width):
        return {"shift": draws.uniform(self.name, -self.n * width, self.n * width)}

    def matrices(self, parameters, height, width):
        shift = parameters["shift"]
        zero = tf.zeros_like(shift)
        return translation(shift, zero), translation(-shift, zero)


AUGMENTATION = WidthShift
