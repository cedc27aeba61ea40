"""deform: with probability 0.5, a perspective warp that moves one random corner inwards by
(width * x, height * y), x and y from 0 to n."""

from pyramid.augment.base import Geometric
from pyramid.augment.matrices import homography
from pyramid.importers import tf


class Deform(Geometric):
    projective = True

    def draw(self, draws, height, width):
        amount = draws.uniform(self.name, 0, self.n, tail=(2,), part=2) * [width, height]
        return {
            "corner": tf.cast(draws.uniform(self.name, 0, 4, part=1), tf.int32),
            "amount": amount * tf.cast(draws.coin(self.name), tf.float32)[:, None],
        }

    def matrices(self, parameters, height, width):
        corners = tf.constant([[0, 0], [width, 0], [width, height], [0, height]], tf.float32)
        which = parameters["corner"]
        # Inwards: towards the centre, whatever the corner.
        inwards = tf.sign(tf.constant([width / 2, height / 2]) - tf.gather(corners, which))
        moved = tf.one_hot(which, 4)[:, :, None] * (parameters["amount"] * inwards)[:, None, :]
        sources = tf.broadcast_to(corners, tf.shape(moved))
        targets = sources + moved
        return homography(sources, targets), homography(targets, sources)


AUGMENTATION = Deform
