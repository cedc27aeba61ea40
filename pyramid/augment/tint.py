"""tint: with probability 0.5, multiply a random subset of the channels (each picked with
probability 0.5) by factors from 1 - n to 1 + n, one per channel."""

from pyramid.augment.base import ColourStep
from pyramid.importers import tf


class Tint(ColourStep):
    def draw(self, draws, height, width):
        factors = draws.uniform(self.name, 1 - self.n, 1 + self.n, tail=(3,))
        picked = draws.coin(self.name, tail=(3,), part=1) & draws.coin(self.name)[:, None]
        return {"factors": tf.where(picked, factors, 1.0)}

    def affine(self, parameters, mean):
        factors = parameters["factors"][:, None, None, :]
        return factors, tf.zeros_like(factors)


AUGMENTATION = Tint
