"""brightness: add a value from -255 * n to 255 * n to every pixel of the image."""

from pyramid.augment.base import ColourStep
from pyramid.importers import tf


class Brightness(ColourStep):
    def draw(self, draws, height, width):
        return {"delta": draws.uniform(self.name, -255 * self.n, 255 * self.n)}

    def affine(self, parameters, mean):
        delta = parameters["delta"][:, None, None, None]
        return tf.ones_like(delta), delta


AUGMENTATION = Brightness
