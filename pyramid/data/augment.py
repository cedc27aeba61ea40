"""The sixteen augmentations as batched TensorFlow graph ops, boxes included.

An `Augmenter` takes a batch of float32 images [B, H, W, 3] (0..255) and the batch's number
in the stream, draws every random parameter per image with stateless random ops seeded from
(seed, batch number, augmentation), and returns the augmented batch. The same seed gives the
same batches whatever the parallelism, and every batch (so every epoch) gets fresh draws.

Work is organised so that a batch costs little more than one pass over its pixels:
- every geometric augmentation (rotation, shear, zoom, shifts, flips, deform) becomes one
  3x3 matrix per image, and their product is applied by one projective transform
  (bilinear, borders filled with the nearest pixel); boxes go through the same matrices;
- brightness, contrast, tint and inversion compose into one multiply-add per image and
  channel;
- augmentations that fire with probability 0.5 (blur, gaussian noise, glare) work only on
  the images whose coin came up, and cutout writes only its rectangles.

Coordinates: matrices map input to output in continuous pixel coordinates, where the image
covers [0, W] x [0, H] with (0, 0) its top-left corner, as boxes `[x1, y1, x2, y2]` do.

Choices where the README is loose (also in the README):
- contrast moves pixels towards or away from their image's per-channel mean;
- gaussian noise has standard deviation n * v for a pixel value v;
- cutout fills its rectangle with the image's mean colour; the rectangle lies inside the image;
- tint draws each channel's factor from 1 - n to 1 + n and picks each channel with p 0.5;
- width_shift moves by up to n * width (the README's "n * height" is a slip);
- deform moves one random corner inwards by (width * x, height * y), x and y from 0 to n;
- glare whitens an ellipse with random foci whose area is a random fraction (0 to n) of
  the image, fading out over its edge;
- blur draws x from 1 - n to 1, shrinks the image to x times its size (at least one pixel)
  and enlarges it back, both bilinear;
- gaussian noise draws one N(0, 1) per pixel, shared by its three channels;
- the order is: geometry, blur, brightness/contrast/tint/invert, noise, glare, cutout, then
  clipping to 0..255.
"""

import math

from pyramid.data import augmentation_settings as settings
from pyramid.importers import tf

GEOMETRIC = ("deform", "rotation", "shear", "zoom", "width_shift", "height_shift",
             "horizontal_flip", "vertical_flip")
FLIP_AXES = {"horizontal_flip": 2, "vertical_flip": 1}  # the image axis each reverses
# A transformed box is kept only if at least this fraction of it stays inside the image.
MIN_VISIBLE_BOX_FRACTION = 0.25
# Each augmentation draws from its own stream, so adding one never changes another's draws.
STREAMS = {name: index for index, name in enumerate(settings.NAMES)}
GLARE_EDGE = 0.25  # width of the glare's fade, as a fraction of the ellipse's half axis


class Draws:
    """Per-image random numbers of one batch, a separate stateless stream per purpose."""

    def __init__(self, seed, batch_index, batch_size):
        base = tf.constant([seed, 0], tf.int64)
        self.key = tf.random.experimental.stateless_fold_in(base, tf.cast(batch_index, tf.int64))
        self.batch_size = batch_size

    def uniform(self, name, low, high, tail=(), part=0):
        seed = tf.random.experimental.stateless_fold_in(self.key, STREAMS[name] * 16 + part)
        shape = tf.concat([[self.batch_size], tf.constant(tail, tf.int32)], axis=0)
        return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)

    def coin(self, name, tail=(), part=15):
        """True with probability 0.5, per image (or per image and `tail`)."""
        return self.uniform(name, 0.0, 1.0, tail, part) < 0.5

    def normal(self, name, shape, part=14):
        seed = tf.random.experimental.stateless_fold_in(self.key, STREAMS[name] * 16 + part)
        return tf.random.stateless_normal(shape, seed)


class Augmenter:
    """Applies the active augmentations, {name: n}, to batches of images (and boxes)."""

    def __init__(self, parameters, seed):
        unknown = set(parameters) - set(settings.NAMES)
        if unknown:
            raise ValueError("unknown augmentations: %s" % sorted(unknown))
        self.parameters = dict(parameters)
        self.seed = int(seed)

    def __bool__(self):
        return bool(self.parameters)

    def __call__(self, images, batch_index, boxes=None):
        """Augmented images; with `boxes` [B, M, 4], also (boxes, kept [B, M])."""
        draws = Draws(self.seed, batch_index, tf.shape(images)[0])
        height, width = images.shape[1], images.shape[2]
        forward, inverse = self.geometry(draws, height, width)
        if forward is not None and self.only_flips:
            images = self.flip(images, draws)
        elif forward is not None:
            images = project(images, inverse)
        images = self.photometric(images, draws)
        if boxes is None:
            return images
        if forward is None:
            return images, boxes, tf.ones(tf.shape(boxes)[:2], tf.bool)
        return (images, *transform_boxes(boxes, forward, height, width))

    # Geometry ---------------------------------------------------------------------------

    @property
    def only_flips(self):
        """True when the only geometric augmentations are flips: a flip maps pixel centres
        onto pixel centres, so reversing the chosen images gives exactly the resampling's
        pixels, at a fraction of its cost."""
        return all(name in FLIP_AXES for name in GEOMETRIC if name in self.parameters)

    def flip(self, images, draws):
        # One gather per flip, each image reading its own row (or column) order: half the
        # time of reversing the batch and choosing per image with tf.where.
        for name, axis in FLIP_AXES.items():
            if name in self.parameters:
                size = images.shape[axis]
                order = tf.where(draws.coin(name)[:, None], tf.range(size - 1, -1, -1)[None], tf.range(size)[None])
                images = tf.gather(images, order, axis=axis, batch_dims=1)
        return images

    def geometry(self, draws, height, width):
        """(forward, inverse) [B, 3, 3] products of the geometric augmentations, or Nones."""
        active = [name for name in GEOMETRIC if name in self.parameters]
        if not active:
            return None, None
        forward = inverse = None
        for name in active:
            step, undo = getattr(self, "_" + name)(draws, self.parameters[name], height, width)
            forward = step if forward is None else step @ forward
            inverse = undo if inverse is None else inverse @ undo
        return forward, inverse

    def _rotation(self, draws, n, height, width):
        angle = draws.uniform("rotation", -n, n) * (math.pi / 180)
        cos, sin = tf.cos(angle), tf.sin(angle)
        return about_centre(linear(cos, sin, -sin, cos), linear(cos, -sin, sin, cos), height, width)

    def _shear(self, draws, n, height, width):
        slope = tf.tan(draws.uniform("shear", -n, n) * (math.pi / 180))
        one, zero = tf.ones_like(slope), tf.zeros_like(slope)
        return about_centre(linear(one, slope, zero, one), linear(one, -slope, zero, one), height, width)

    def _zoom(self, draws, n, height, width):
        scale = draws.uniform("zoom", 1 - n, 1 + n)
        zero = tf.zeros_like(scale)
        return about_centre(linear(scale, zero, zero, scale), linear(1 / scale, zero, zero, 1 / scale), height, width)

    def _width_shift(self, draws, n, height, width):
        shift = draws.uniform("width_shift", -n * width, n * width)
        return translation(shift, tf.zeros_like(shift)), translation(-shift, tf.zeros_like(shift))

    def _height_shift(self, draws, n, height, width):
        shift = draws.uniform("height_shift", -n * height, n * height)
        return translation(tf.zeros_like(shift), shift), translation(tf.zeros_like(shift), -shift)

    def _horizontal_flip(self, draws, n, height, width):
        flip = mirror(draws.coin("horizontal_flip"), width, axis=0)
        return flip, flip

    def _vertical_flip(self, draws, n, height, width):
        flip = mirror(draws.coin("vertical_flip"), height, axis=1)
        return flip, flip

    def _deform(self, draws, n, height, width):
        """Perspective warp moving one random corner inwards (p 0.5)."""
        corners = tf.constant([[0, 0], [width, 0], [width, height], [0, height]], tf.float32)
        which = tf.cast(draws.uniform("deform", 0, 4, part=1), tf.int32)
        amount = draws.uniform("deform", 0, n, tail=(2,), part=2) * [width, height]
        amount *= tf.cast(draws.coin("deform"), tf.float32)[:, None]
        # Inwards: towards the centre, whatever the corner.
        inwards = tf.sign(tf.constant([width / 2, height / 2]) - tf.gather(corners, which))
        moved = tf.one_hot(which, 4)[:, :, None] * (amount * inwards)[:, None, :]
        batch_corners = tf.broadcast_to(corners, tf.shape(moved))
        targets = batch_corners + moved
        return homography(batch_corners, targets), homography(targets, batch_corners)

    # Pixels -----------------------------------------------------------------------------

    def photometric(self, images, draws):
        p = self.parameters
        if "blur" in p:
            images = blur(images, draws, p["blur"])

        scale, offset = self.colour_affine(images, draws)
        if scale is not None:
            images = images * scale + offset
        if "gaussian_noise" in p:
            images = gaussian_noise(images, draws, p["gaussian_noise"])
        if "glare" in p:
            images = glare(images, draws, p["glare"])
        if "cutout" in p:
            images = cutout(images, draws, p["cutout"])
        return tf.clip_by_value(images, 0.0, 255.0)

    def colour_affine(self, images, draws):
        """Brightness, contrast, tint and inversion as one `scale * x + offset` per image and
        channel.

        brightness: x + d; contrast: m' + (x' - m') (1 + c) around the mean m' of x'; tint:
        a factor t per channel. Together: t (1 + c) x + t (d - c m), m the input's mean.
        Inversion then maps y to 255 - y.
        """
        p = self.parameters
        if not any(name in p for name in ("brightness", "contrast", "tint", "color_invert")):
            return None, None
        batch = tf.shape(images)[0]
        delta = tf.zeros([batch, 1, 1, 1])
        contrast = tf.zeros([batch, 1, 1, 1])
        tint = tf.ones([batch, 1, 1, 3])
        offset = tf.zeros([batch, 1, 1, 1])
        if "brightness" in p:
            n = p["brightness"]
            delta = draws.uniform("brightness", -255 * n, 255 * n)[:, None, None, None]
        if "contrast" in p:
            n = p["contrast"]
            contrast = draws.uniform("contrast", -n, n)[:, None, None, None]
            offset = -contrast * channel_means(images)
        if "tint" in p:
            n = p["tint"]
            factors = draws.uniform("tint", 1 - n, 1 + n, tail=(3,))
            chosen = draws.coin("tint", tail=(3,), part=1) & draws.coin("tint")[:, None]
            tint = tf.where(chosen, factors, 1.0)[:, None, None, :]
        scale, offset = tint * (1 + contrast), tint * (delta + offset)
        if "color_invert" in p:
            invert = draws.coin("color_invert")[:, None, None, None]
            scale, offset = tf.where(invert, -scale, scale), tf.where(invert, 255.0 - offset, offset)
        return scale, offset


# Matrices ----------------------------------------------------------------------------------


def linear(a, b, c, d):
    """[B, 3, 3] matrices [[a, b, 0], [c, d, 0], [0, 0, 1]] from [B] tensors."""
    zero, one = tf.zeros_like(a), tf.ones_like(a)
    return tf.reshape(tf.stack([a, b, zero, c, d, zero, zero, zero, one], axis=1), [-1, 3, 3])


def translation(dx, dy):
    one, zero = tf.ones_like(dx), tf.zeros_like(dx)
    return tf.reshape(tf.stack([one, zero, dx, zero, one, dy, zero, zero, one], axis=1), [-1, 3, 3])


def about_centre(forward, inverse, height, width):
    """The linear maps `forward` and `inverse` taken about the image centre."""
    batch = tf.shape(forward)[0]
    cx = tf.fill([batch], width / 2)
    cy = tf.fill([batch], height / 2)
    to_centre, back = translation(-cx, -cy), translation(cx, cy)
    return back @ forward @ to_centre, back @ inverse @ to_centre


def mirror(flip, size, axis):
    """Per image: x -> size - x along `axis` (0: x, 1: y) where `flip`, else the identity."""
    sign = tf.where(flip, -1.0, 1.0)
    shift = tf.where(flip, float(size), 0.0)
    one, zero = tf.ones_like(sign), tf.zeros_like(sign)
    if axis == 0:
        rows = [sign, zero, shift, zero, one, zero]
    else:
        rows = [one, zero, zero, zero, sign, shift]
    return tf.reshape(tf.stack(rows + [zero, zero, one], axis=1), [-1, 3, 3])


def homography(sources, targets):
    """[B, 3, 3] perspective maps taking the four `sources` points to `targets` ([B, 4, 2])."""
    x, y = sources[..., 0], sources[..., 1]
    u, v = targets[..., 0], targets[..., 1]
    zero, one = tf.zeros_like(x), tf.ones_like(x)
    # For each point: a x + b y + c - g x u - h y u = u, and likewise for v.
    rows_u = tf.stack([x, y, one, zero, zero, zero, -x * u, -y * u], axis=-1)
    rows_v = tf.stack([zero, zero, zero, x, y, one, -x * v, -y * v], axis=-1)
    system = tf.concat([rows_u, rows_v], axis=1)
    values = tf.concat([u, v], axis=1)[..., None]
    solution = tf.linalg.solve(tf.cast(system, tf.float64), tf.cast(values, tf.float64))
    solution = tf.cast(solution[..., 0], tf.float32)
    return tf.reshape(tf.concat([solution, tf.ones_like(solution[:, :1])], axis=1), [-1, 3, 3])


def project(images, inverse):
    """Resample images through the output-to-input maps `inverse` (continuous coordinates)."""
    # The op works on pixel indices, whose centres sit at +0.5 in continuous coordinates.
    batch = tf.shape(inverse)[0]
    half = tf.fill([batch], 0.5)
    index_map = translation(-half, -half) @ inverse @ translation(half, half)
    index_map = index_map / index_map[:, 2:3, 2:3]
    transforms = tf.reshape(index_map, [-1, 9])[:, :8]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )


def transform_boxes(boxes, forward, height, width):
    """Boxes [B, M, 4] through `forward`: the enclosing box of the moved corners, clipped.

    Returns (boxes, kept): `kept` is False for a box of which less than
    MIN_VISIBLE_BOX_FRACTION stays inside the image; its row stays, so labels keep aligned.
    """
    x1, y1, x2, y2 = tf.unstack(tf.cast(boxes, tf.float32), axis=-1)
    xs = tf.stack([x1, x2, x2, x1], axis=-1)
    ys = tf.stack([y1, y1, y2, y2], axis=-1)
    points = tf.stack([xs, ys, tf.ones_like(xs)], axis=-1)  # [B, M, 4, 3]
    moved = tf.einsum("bij,bmkj->bmki", forward, points)
    moved_x = moved[..., 0] / moved[..., 2]
    moved_y = moved[..., 1] / moved[..., 2]
    enclosing = tf.stack(
        [tf.reduce_min(moved_x, -1), tf.reduce_min(moved_y, -1), tf.reduce_max(moved_x, -1), tf.reduce_max(moved_y, -1)],
        axis=-1,
    )
    limits = tf.constant([width, height, width, height], tf.float32)
    clipped = tf.clip_by_value(enclosing, 0.0, limits)
    visible = area(clipped) / tf.maximum(area(enclosing), 1e-6)
    return clipped, visible >= MIN_VISIBLE_BOX_FRACTION


def area(boxes):
    return tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * tf.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


# Pixel operations --------------------------------------------------------------------------


def channel_means(images):
    return tf.reduce_mean(images, axis=[1, 2], keepdims=True)


def on_chosen(images, chosen, operation):
    """Apply `operation` to the images where `chosen` ([B] bool) only, in place."""
    where = tf.where(chosen)
    changed = operation(tf.gather_nd(images, where), where[:, 0])
    return tf.tensor_scatter_nd_update(images, where, changed)


def blur(images, draws, n):
    """p 0.5: shrink by x (1 - n to 1), then enlarge back, both bilinear."""
    height, width = images.shape[1], images.shape[2]
    factors = draws.uniform("blur", 1 - n, 1.0)
    size = tf.stack([tf.round(factors * height), tf.round(factors * width)], axis=1)
    size = tf.cast(tf.maximum(size, 1.0), tf.int32)

    def shrink_and_grow(chosen_images, rows):
        def one(arguments):
            image, small = arguments
            shrunk = tf.image.resize(image, small, method="bilinear")
            return tf.image.resize(shrunk, [height, width], method="bilinear")

        small = tf.gather(size, rows)
        return tf.map_fn(one, (chosen_images, small), fn_output_signature=tf.float32)

    return on_chosen(images, draws.coin("blur"), shrink_and_grow)


def gaussian_noise(images, draws, n):
    """p 0.5: add noise of standard deviation n * v to each pixel value v.

    One N(0, 1) draw per pixel, scaled by each channel's value: a third of the draws.
    """

    def noisy(chosen_images, rows):
        noise = draws.normal("gaussian_noise", tf.shape(chosen_images)[:3])[..., None]
        return chosen_images * (1.0 + n * noise)

    return on_chosen(images, draws.coin("gaussian_noise"), noisy)


def cutout(images, draws, n):
    """p 0.5: a [width * n, height * n] rectangle of the image's mean colour, inside it."""
    height, width = images.shape[1], images.shape[2]
    box_h, box_w = round(n * height), round(n * width)
    if box_h == 0 or box_w == 0:
        return images
    chosen = tf.where(draws.coin("cutout"))[:, 0]
    top = tf.cast(tf.floor(draws.uniform("cutout", 0, height - box_h + 1, part=1)), tf.int64)
    left = tf.cast(tf.floor(draws.uniform("cutout", 0, width - box_w + 1, part=2)), tf.int64)
    rows = tf.gather(top, chosen)[:, None, None] + tf.range(box_h, dtype=tf.int64)[None, :, None]
    cols = tf.gather(left, chosen)[:, None, None] + tf.range(box_w, dtype=tf.int64)[None, None, :]
    batch = tf.broadcast_to(chosen[:, None, None], tf.shape(rows + cols))
    where = tf.stack([batch, tf.broadcast_to(rows, tf.shape(batch)), tf.broadcast_to(cols, tf.shape(batch))], -1)
    colours = tf.gather(channel_means(images)[:, 0, 0, :], chosen)  # [k, 3]
    fill = tf.broadcast_to(colours[:, None, None, :], tf.concat([tf.shape(where)[:3], [3]], 0))
    return tf.tensor_scatter_nd_update(images, where, fill)


def glare(images, draws, n):
    """p 0.5: whiten an ellipse with random foci covering a random fraction (0 to n)."""
    height, width = images.shape[1], images.shape[2]
    all_foci = draws.uniform("glare", 0.0, 1.0, tail=(2, 2), part=1) * [width, height]
    all_fractions = draws.uniform("glare", 0.0, n, part=2)
    ys = tf.range(height, dtype=tf.float32)[None, :, None] + 0.5
    xs = tf.range(width, dtype=tf.float32)[None, None, :] + 0.5

    def whiten(chosen_images, rows):
        foci, fraction = tf.gather(all_foci, rows), tf.gather(all_fractions, rows)
        # Half the major axis, a, such that pi a b = fraction * H * W, with b^2 = a^2 - c^2.
        half_focal = tf.norm(foci[:, 0] - foci[:, 1], axis=-1) / 2
        area_term = fraction * height * width / math.pi
        a = tf.sqrt((half_focal**2 + tf.sqrt(half_focal**4 + 4 * area_term**2)) / 2)

        def distance(focus):
            return tf.sqrt((xs - focus[:, 0, None, None]) ** 2 + (ys - focus[:, 1, None, None]) ** 2)

        reach = distance(foci[:, 0]) + distance(foci[:, 1])  # 2a on the ellipse's edge
        edge = GLARE_EDGE * a[:, None, None] + 1e-3
        alpha = tf.sigmoid((2 * a[:, None, None] - reach) / edge)
        alpha = tf.where(fraction[:, None, None] > 0, alpha, 0.0)[..., None]
        return chosen_images + alpha * (255.0 - chosen_images)

    return on_chosen(images, draws.coin("glare"), whiten)
