"""gaussian_noise: with probability 0.5, add to each pixel value v noise of standard
deviation n * v. One N(0, 1) draw per pixel, shared by its three channels."""

import math

from pyramid.augment.base import PixelStep, chosen
from pyramid.importers import tf


class GaussianNoise(PixelStep):
    def draw(self, draws, height, width):
        # Drawn outside compiled code: XLA's CPU random numbers are about 30 times slower.
        # An odd width draws one column more.
        field = draws.normal(self.name, tf.stack([draws.batch_size, height, 2 * math.ceil(width / 2)]))
        return {"noisy": draws.coin(self.name), "noise": self.n * field[:, :, :width]}

    def apply(self, images, parameters):
        noisy = images * (1.0 + parameters["noise"][..., None])
        return tf.where(chosen(parameters["noisy"], images), noisy, images)


AUGMENTATION = GaussianNoise
