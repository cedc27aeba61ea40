"""shear: shear horizontally about the centre by an angle from -n to n degrees; the frame
stays, borders filled with the nearest pixel."""

import math

from pyramid.augment.base import Geometric
from pyramid.augment.matrices import about_centre, linear
from pyramid.importers import tf


class Shear(Geometric):
    def draw(self, draws, height, width):
        return {"slope": tf.tan(draws.uniform(self.name, -self.n, self.n) * (math.pi / 180))}

    def matrices(self, parameters, height, width):
        slope = parameters["slope"]
        one, zero = tf.ones_like(slope), tf.zeros_like(slope)
        return about_centre(linear(one, slope, zero, one), linear(one, -slope, zero, one), height, width)


AUGMENTATION = Shear
