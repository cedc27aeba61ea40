"""cutout: with probability 0.5, cover a [width * n, height * n] rectangle inside the image
with the image's mean colour."""

from pyramid.augment.base import PixelStep, chosen
from pyramid.importers import tf


class Cutout(PixelStep):
    needs_mean = True

    def draw(self, draws, height, width):
        box_h, box_w = round(self.n * height), round(self.n * width)
        return {
            "covered": draws.coin(self.name),
            "top": tf.floor(draws.uniform(self.name, 0, height - box_h + 1, part=1)),
            "left": tf.floor(draws.uniform(self.name, 0, width - box_w + 1, part=2)),
            "size": tf.broadcast_to(tf.constant([box_h, box_w], tf.float32), tf.stack([draws.batch_size, 2])),
        }

    def apply(self, images, parameters):
        height, width = images.shape[1], images.shape[2]
        box_h, box_w = parameters["size"][:, 0, None, None], parameters["size"][:, 1, None, None]
        rows = tf.range(height, dtype=tf.float32)[None, :, None] - parameters["top"][:, None, None]
        cols = tf.range(width, dtype=tf.float32)[None, None, :] - parameters["left"][:, None, None]
        inside = (rows >= 0) & (rows < box_h) & (cols >= 0) & (cols < box_w)
        inside &= chosen(parameters["covered"], inside)
        means = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        return tf.where(inside[..., None], means, images)


AUGMENTATION = Cutout
