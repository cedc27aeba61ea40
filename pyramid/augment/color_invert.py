"""color_invert: with probability 0.5, every channel v becomes 255 - v."""

from pyramid.augment.base import ColourStep
from pyramid.importers import tf


class ColorInvert(ColourStep):
    def draw(self, draws, height, width):
        return {"invert": draws.coin(self.name)}

    def affine(self, parameters, mean):
        invert = parameters["invert"][:, None, None, None]
        return tf.where(invert, -1.0, 1.0), tf.where(invert, 255.0, 0.0)


AUGMENTATION = ColorInvert
