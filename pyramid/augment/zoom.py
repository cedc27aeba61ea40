"""zoom: scale about the centre by a factor from 1 - n to 1 + n, cropping or padding with
the nearest pixel to keep the size."""

from pyramid.augment.base import Geometric
from pyramid.augment.matrices import about_centre, linear
from pyramid.importers import tf


class Zoom(Geometric):
    separable_axes = ("x", "y")

    def draw(self, draws, height, width):
        return {"scale": draws.uniform(self.name, 1 - self.n, 1 + self.n)}

    def matrices(self, parameters, height, width):
        scale = parameters["scale"]
        zero = tf.zeros_like(scale)
        return about_centre(linear(scale, zero, zero, scale), linear(1 / scale, zero, zero, 1 / scale), height, width)


AUGMENTATION = Zoom
