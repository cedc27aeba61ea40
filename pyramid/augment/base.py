"""What every augmentation is: parameters drawn for a batch, then applied.

An augmentation draws all its random numbers for a batch at once (`draw`), from its own
stateless stream (`Draws`), and only then applies them, so that images and boxes move
with the same draws, the drawing stays out of compiled code, and the same seed gives the
same batch at any parallelism. There are three kinds, by how they are applied:

- `Geometric`: a 3x3 map per image, from output to input and back (`matrices`); the
  Augmenter multiplies those of all active geometric augmentations and resamples once, and
  moves boxes through the forward maps.
- `ColourStep`: a `scale * x + offset` per image and channel (`affine`); consecutive steps
  compose into one multiply-add.
- `PixelStep`: anything else done to the pixels (`apply`).

Coordinates: maps take continuous pixel coordinates, where an image covers [0, W] x [0, H]
with (0, 0) its top-left corner, as boxes `[x1, y1, x2, y2]` do.
"""

import math

from pyramid.augment import registry
from pyramid.augment.matrices import mirror
from pyramid.importers import tf

# Each augmentation draws from its own stream, so adding one never changes another's draws.
STREAMS = {name: index for index, name in enumerate(registry.NAMES)}


class Draws:
    """Per-image random numbers of one batch, a separate stateless stream per purpose.

    The numbers are the same compiled by XLA or not, so that an XLA-compiled training step
    (augmentation_placement "device" with jit_compile) draws what the input pipeline draws:
    every op names its algorithm, Philox (TensorFlow's default, "auto_select", is Philox on
    CPUs and GPUs but Threefry under XLA), and uniform floats are made from Philox's 32-bit
    words by `unit_floats` (XLA's own float conversion takes other bits of the word)."""

    def __init__(self, seed, batch_index, batch_size):
        base = tf.constant([seed, 0], tf.int64)
        self.key = tf.random.experimental.stateless_fold_in(base, tf.cast(batch_index, tf.int64), alg="philox")
        self.batch_size = batch_size

    def seed(self, name, part):
        """The stateless seed of stream `name`, part `part` (0..15)."""
        return tf.random.experimental.stateless_fold_in(self.key, STREAMS[name] * 16 + part, alg="philox")

    def uniform(self, name, low, high, tail=(), part=0):
        shape = tf.concat([[self.batch_size], tf.constant(tail, tf.int32)], axis=0)
        bits = tf.random.stateless_uniform(shape, self.seed(name, part), minval=None, maxval=None,
                                           dtype=tf.uint32, alg="philox")
        low, high = tf.cast(low, tf.float32), tf.cast(high, tf.float32)
        return unit_floats(bits) * (high - low) + low

    def coin(self, name, tail=(), part=15):
        """True with probability 0.5, per image (or per image and `tail`)."""
        return self.uniform(name, 0.0, 1.0, tail, part) < 0.5

    def normal(self, name, shape, part=14):
        """N(0, 1) numbers of `shape` (its last axis even), made cheaply for large fields.

        Box-Muller on 16-bit uniforms: one 32-bit random word gives two numbers, a quarter
        of what `stateless_normal` spends (0.44 against 0.94 ms of CPU for a 224x224
        field here); the tails end at 4.7 standard deviations.
        """
        pairs = tf.concat([shape[:-1], [shape[-1] // 2]], axis=0)
        bits = tf.random.stateless_uniform(pairs, self.seed(name, part), minval=None, maxval=None,
                                           dtype=tf.uint32, alg="philox")
        high = tf.cast(tf.bitwise.right_shift(bits, 16), tf.float32)
        low = tf.cast(tf.bitwise.bitwise_and(bits, 0xFFFF), tf.float32)
        radius = tf.sqrt(-2.0 * tf.math.log((high + 0.5) / 65536.0))
        angle = (2 * math.pi / 65536.0) * (low + 0.5)
        return tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=-1)


def unit_floats(bits):
    """Floats in [0, 1) from uint32 random words, as TensorFlow's uniform kernel makes them
    on CPUs and GPUs: the low 23 bits as the mantissa of a number in [1, 2), minus 1."""
    mantissa = tf.bitwise.bitwise_or(tf.bitwise.bitwise_and(bits, 0x7FFFFF), 0x3F800000)
    return tf.bitcast(mantissa, tf.float32) - 1.0


class Augmentation:
    """One augmentation with its parameter `n` (see the subclass's docstring for its meaning).

    `draw` turns `n` into the batch's parameters; what applies them (`matrices`, `affine`,
    `apply`) reads only those, never `n` itself: a compiled application then serves every
    `n` (see `augmenter.COMPILED`)."""

    # Whether `apply` compiles with XLA (static shapes, XLA kernels for every op).
    compiles = True
    # Whether it uses the per-image mean of its input (computing it costs a pass).
    needs_mean = False

    def __init__(self, name, n):
        self.name = name
        self.n = float(n)

    def draw(self, draws, height, width):
        """A dict of this batch's random parameters, each with a leading batch axis."""
        raise NotImplementedError


class Geometric(Augmentation):
    # What the maps are, so that the Augmenter resamples in the cheapest way that gives the
    # same pixels (see resampling.py):
    # - reverses_only: every map moves pixel centres onto pixel centres (flips): the batch
    #   can be reversed instead of resampled;
    # - separable_axes: when x moves with x only and y with y only, the axes the maps move
    #   ("x", "y"); None when they mix them (rotation, shear, deform);
    # - projective: the maps have perspective (a last row other than [0, 0, 1]).
    reverses_only = False
    separable_axes = None
    projective = False

    def matrices(self, parameters, height, width):
        """(forward, inverse): [B, 3, 3] maps from input to output and back."""
        raise NotImplementedError


class ColourStep(Augmentation):
    def affine(self, parameters, mean):
        """(scale, offset), each broadcastable to [B, 1, 1, 3], of `scale * x + offset` for
        images whose per-image, per-channel mean is `mean` [B, 1, 1, 3]."""
        raise NotImplementedError


class PixelStep(Augmentation):
    def apply(self, images, parameters):
        """The batch with the augmentation applied (to the images the draws chose)."""
        raise NotImplementedError


def chosen(coin, images):
    """`coin` [B] shaped to select whole images in tf.where."""
    return tf.reshape(coin, [-1] + [1] * (len(images.shape) - 1))


class Flip(Geometric):
    """With probability 0.5, mirror the image along `axis` (of [B, H, W, C])."""

    reverses_only = True
    axis = None

    @property
    def separable_axes(self):
        return ("x",) if self.axis == 2 else ("y",)

    def draw(self, draws, height, width):
        return {"flip": draws.coin(self.name)}

    def matrices(self, parameters, height, width):
        size, along = (width, 0) if self.axis == 2 else (height, 1)
        flip = mirror(parameters["flip"], size, along)
        return flip, flip
