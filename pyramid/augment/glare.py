"""glare: with probability 0.5, whiten an ellipse with random foci whose area is a random
fraction (0 to n) of the image, fading out over its edge."""

import math

from pyramid.augment.base import PixelStep, chosen
from pyramid.importers import tf

EDGE = 0.25  # width of the fade, as a fraction of the ellipse's half axis


class Glare(PixelStep):
    def draw(self, draws, height, width):
        return {
            "glaring": draws.coin(self.name),
            "foci": draws.uniform(self.name, 0.0, 1.0, tail=(2, 2), part=1) * [width, height],
            "fraction": draws.uniform(self.name, 0.0, self.n, part=2),
        }

    def apply(self, images, parameters):
        height, width = images.shape[1], images.shape[2]
        foci, fraction = parameters["foci"], parameters["fraction"]
        # Half the major axis, a, such that pi a b = fraction * H * W, with b^2 = a^2 - c^2.
        half_focal = tf.norm(foci[:, 0] - foci[:, 1], axis=-1) / 2
        area_term = fraction * height * width / math.pi
        a = tf.sqrt((half_focal**2 + tf.sqrt(half_focal**4 + 4 * area_term**2)) / 2)[:, None, None]
        ys = tf.range(height, dtype=tf.float32)[None, :, None] + 0.5
        xs = tf.range(width, dtype=tf.float32)[None, None, :] + 0.5

        def distance(focus):
            return tf.sqrt((xs - focus[:, 0, None, None]) ** 2 + (ys - focus[:, 1, None, None]) ** 2)

        reach = distance(foci[:, 0]) + distance(foci[:, 1])  # 2a on the ellipse's edge
        alpha = tf.sigmoid((2 * a - reach) / (EDGE * a + 1e-3))
        alpha = tf.where(fraction[:, None, None] > 0, alpha, 0.0)[..., None]
        return tf.where(chosen(parameters["glaring"], images), images + alpha * (255.0 - images), images)


AUGMENTATION = Glare
