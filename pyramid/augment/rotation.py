"""rotation: rotate about the centre by an angle from -n to n degrees. The frame stays: the
corners are lost and the borders filled with the nearest pixel."""

import math

from pyramid.augment.base import Geometric
from pyramid.augment.matrices import about_centre, linear
from pyramid.importers import tf


class Rotation(Geometric):
    def draw(self, draws, height, width):
        return {"angle": draws.uniform(self.name, -self.n, self.n) * (math.pi / 180)}

    def matrices(self, parameters, height, width):
        cos, sin = tf.cos(parameters["angle"]), tf.sin(parameters["angle"])
        return about_centre(linear(cos, sin, -sin, cos), linear(cos, -sin, sin, cos), height, width)


AUGMENTATION = Rotation
