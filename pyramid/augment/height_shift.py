"""height_shift: move the image vertically by up to n * height pixels either way, borders
filled with the nearest pixel."""

from pyramid.augment.base import Geometric
from pyramid.augment.matrices import translation
from pyramid.importers import tf


class HeightShift(Geometric):
    separable_axes = ("y",)

    def draw(self, draws, height, width):
        return {"shift": draws.uniform(self.name, -self.n * height, self.n * height)}

    def matrices(self, parameters, height, width):
        shift = parameters["shift"]
        zero = tf.zeros_like(shift)
        return translation(zero, shift), translation(zero, -shift)


AUGMENTATION = HeightShift
