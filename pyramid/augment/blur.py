"""blur: with probability 0.5, shrink the image to x times its size (x from 1 - n to 1, at
least one pixel) and enlarge it back, both bilinear."""

from pyramid.augment.base import PixelStep
from pyramid.importers import tf


class Blur(PixelStep):
    # Each image has its own shrunk size, which XLA's static shapes cannot express.
    compiles = False

    def draw(self, draws, height, width):
        factors = draws.uniform(self.name, 1 - self.n, 1.0)
        size = tf.stack([tf.round(factors * height), tf.round(factors * width)], axis=1)
        return {"blurred": draws.coin(self.name), "size": tf.cast(tf.maximum(size, 1.0), tf.int32)}

    def apply(self, images, parameters):
        height, width = images.shape[1], images.shape[2]

        def shrink_and_grow(arguments):
            image, small, blurred = arguments

            def blur():
                shrunk = tf.image.resize(image, small, method="bilinear")
                return tf.image.resize(shrunk, [height, width], method="bilinear")

            # Per image, so that the others are only copied (no gather and scatter).
            return tf.cond(blurred, blur, lambda: image)

        arguments = (images, parameters["size"], parameters["blurred"])
        return tf.map_fn(shrink_and_grow, arguments, fn_output_signature=tf.float32)


AUGMENTATION = Blur
