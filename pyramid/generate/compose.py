"""One generated example from (seed, example index), in TensorFlow graph ops.

Every random choice of example i is drawn from stateless streams keyed by (seed, i, purpose),
and its augmentations from the engine's per-image draws keyed by (augmentation seed, i), so a
seed gives the same data set whatever the batch size or parallelism.

An example:
1. a background: with `random_background_rate` a synthetic one (`backgrounds.synthetic`), else
   a random crop of a random photo; then the background augmentations, through the engine;
2. k foregrounds: none with `empty_image_rate`, else 1 to `max_foreground_images`. Foreground j
   has an occupancy drawn from [low, high / 2^j] (at least low: later foregrounds are smaller),
   so that its larger side, relative to the background's, is that fraction; and a position
   where it fits (or, larger than the background, where it covers it);
3. each foreground's photometric augmentations are applied to its colours (under its alpha),
   then ONE projective transform per foreground, the product of its geometric augmentations,
   its scale and its position, takes its premultiplied RGBA tile straight into the
   background's frame (bilinear, transparent outside the tile), resampled only inside the
   window of the output it can touch;
4. alpha compositing, later foregrounds on top (done front to back, `composite`);
5. boxes tight to what shows of each object (`object_box`).

Coordinates are continuous pixel coordinates: the image covers [0, W] x [0, H], (0, 0) being
the top-left corner of the top-left pixel, as boxes are.
"""

from pyramid.generate import augmentation, backgrounds
from pyramid.generate.settings import CATEGORICAL, DETECTION
from pyramid.importers import tf

# A box is kept if at least this fraction of its object's pixels in the image stay visible
# under the later objects (and at least one does).
MIN_VISIBLE_FRACTION = 0.25
# A pixel belongs to an object's box when the object shows there with at least this opacity,
# that is when the pixel is more the object's than what lies under it.
BOX_ALPHA = 0.5
# Streams of the composition's own draws (the augmentations have the engine's).
PURPOSES = {name: number for number, name in enumerate(
    ("count", "synthetic", "photo", "crop", "class", "image", "occupancy", "position", "shapes"))}


class Composer:
    """Makes example i of a Generation from its banks (`pyramid.generate.banks`)."""

    def __init__(self, generation, foreground_bank, background_bank=None, compile=True):
        config = generation.config
        self.config = config
        self.height, self.width = config.image_shape_hw
        self.slots = config.max_foreground_images
        self.foregrounds = foreground_bank
        self.backgrounds = background_bank
        self.synthetic_rate = generation.synthetic_background_rate
        seed = config.effective_augmentation_seed
        # compile: the augmentations' pixel work by XLA (the engine's default; tests switch it
        # off to start quicker).
        self.foreground_augmenter = augmentation.Foreground(config.foreground_augmentations, seed, compile)
        self.background_augmenter = augmentation.augmenter(config.background_augmentations, seed, compile)
        self.side = int(foreground_bank.tiles.shape[1])
        self._label_tables(generation)

    def _label_tables(self, generation):
        """Foreground label index -> class index, and each class's directory name."""
        config, classes = self.config, generation.classes
        names = generation.foregrounds.label_names
        if config.objective_type == DETECTION and config.constant_box_label is not None:
            self.class_of_label = tf.zeros([len(names)], tf.int32)
        else:
            self.class_of_label = tf.constant([classes.index(name) for name in names], tf.int32)
        self.class_names = tf.constant(classes + [""])
        background = config.background_label
        self.empty_class = classes.index(background) if background in classes else len(classes)
        # An empty detection image's directory: background_label, else train/ itself.
        self.empty_directory = tf.constant(background or "")

    # Draws ------------------------------------------------------------------------------

    def uniform(self, index, purpose, shape=(), low=0.0, high=1.0):
        key = tf.random.experimental.stateless_fold_in(
            tf.constant([self.config.seed, 1], tf.int64), tf.cast(index, tf.int64))
        key = tf.random.experimental.stateless_fold_in(key, PURPOSES[purpose])
        return tf.random.stateless_uniform(shape, key, minval=low, maxval=high)

    def foreground_count(self, index):
        if self.slots == 0:
            return tf.constant(0, tf.int32)
        empty_draw, count_draw = tf.unstack(self.uniform(index, "count", [2]))
        count = tf.minimum(1 + tf.cast(count_draw * self.slots, tf.int32), self.slots)
        return tf.where(empty_draw < self.config.empty_image_rate, 0, count)

    def choose_foregrounds(self, index):
        """[slots] bank indices: a class first when balancing, else any image."""
        runs = self.foregrounds.runs
        images = tf.shape(self.foregrounds.labels)[0]
        image_draw = self.uniform(index, "image", [self.slots])
        if self.config.balance_objective:
            classes = tf.shape(runs)[0]
            label = tf.minimum(tf.cast(self.uniform(index, "class", [self.slots]) * tf.cast(classes, tf.float32),
                                       tf.int32), classes - 1)
            first, count = tf.unstack(tf.gather(runs, label), axis=1)
            within = tf.minimum(tf.cast(image_draw * tf.cast(count, tf.float32), tf.int32), count - 1)
            return first + within
        return tf.minimum(tf.cast(image_draw * tf.cast(images, tf.float32), tf.int32), images - 1)

    # The example ------------------------------------------------------------------------

    def example(self, index):
        """A dict: image uint8 [H, W, 3]; boxes float32 [slots, 4], box_class int32 [slots] and
        kept bool [slots] (False for unused slots and dropped boxes); label int32 (the image's
        class index); directory string (the sub-directory of train/ it goes to)."""
        index = tf.cast(index, tf.int64)
        count = self.foreground_count(index)
        chosen = self.choose_foregrounds(index)[:count]
        image = self.background(index)
        image, boxes, kept = self.paste(index, image, chosen)
        classes = tf.gather(self.class_of_label, tf.gather(self.foregrounds.labels, chosen))
        last = tf.concat([[self.empty_class], classes], axis=0)[-1]
        directory = self.directory(count, last)
        pad = [[0, self.slots - count]]
        return {
            "image": tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8),
            "boxes": tf.ensure_shape(tf.pad(boxes, pad + [[0, 0]]), [self.slots, 4]),
            "box_class": tf.ensure_shape(tf.pad(classes, pad), [self.slots]),
            "kept": tf.ensure_shape(tf.pad(kept, pad), [self.slots]),
            "label": last,
            "directory": directory,
        }

    def directory(self, count, last):
        """The image's class name; for an empty detection image, background_label or ""."""
        if self.config.objective_type == CATEGORICAL:
            return tf.gather(self.class_names, last)
        return tf.where(count > 0, tf.gather(self.class_names, last), self.empty_directory)

    def background(self, index):
        """float32 [H, W, 3]: a synthetic background or a photo crop, then augmented."""
        shape = (self.height, self.width)
        if self.backgrounds is None:
            image = backgrounds.synthetic(self.uniform_stream(index, "shapes"), shape)
        else:
            photo = lambda: backgrounds.photo_crop(  # noqa: E731
                self.backgrounds.photos, self.uniform(index, "photo"), self.uniform(index, "crop", [3]), shape)
            if self.synthetic_rate <= 0:
                image = photo()
            else:
                image = tf.cond(self.uniform(index, "synthetic") < self.synthetic_rate,
                                lambda: backgrounds.synthetic(self.uniform_stream(index, "shapes"), shape), photo)
        if self.background_augmenter:
            # Batch numbers 2i for backgrounds, 2i + 1 for foregrounds: separate draws.
            image = self.background_augmenter(image[None], 2 * index)[0]
        return image

    def uniform_stream(self, index, purpose):
        """A function (part, shape) -> uniform draws, for code that needs several."""
        def draw(part, shape):
            key = tf.random.experimental.stateless_fold_in(
                tf.constant([self.config.seed, 2], tf.int64), tf.cast(index, tf.int64))
            key = tf.random.experimental.stateless_fold_in(key, PURPOSES[purpose] * 64 + part)
            return tf.random.stateless_uniform(shape, key)
        return draw

    # Foregrounds ------------------------------------------------------------------------

    def paste(self, index, image, chosen):
        """Composite the chosen foregrounds over `image`; return it, their boxes [k, 4] and
        whether each is kept [k]."""
        count = tf.shape(chosen)[0]
        tiles = tf.cast(tf.gather(self.foregrounds.tiles, chosen), tf.float32)
        drawn = self.foreground_augmenter.draw(2 * index + 1, count, self.side)
        colours, alpha = tiles[..., :3], tiles[..., 3:] / 255.0
        if self.foreground_augmenter:
            # Transparent pixels take the object's mean colour, so that the photometric
            # augmentations' image means (contrast, cutout's fill) are the object's own.
            mean = tf.math.divide_no_nan(tf.reduce_sum(colours * alpha, axis=[1, 2], keepdims=True),
                                         tf.reduce_sum(alpha, axis=[1, 2], keepdims=True))
            colours = tf.where(alpha > 0, colours, mean)
            colours = self.foreground_augmenter.colours(colours, drawn)
        inverse = self.placement_inverse(index, chosen, drawn, count)
        windows = footprints(inverse, tf.gather(self.foregrounds.content, chosen), self.height, self.width)
        return composite(image, tf.concat([colours * alpha, alpha], axis=-1), inverse, windows,
                         self.config.bounding_box_margin)

    def placement_inverse(self, index, chosen, drawn, count):
        """[k, 3, 3] output-to-tile maps: the inverse of (position . scale . augmentations)."""
        low, high = self.config.occupancy_range
        slot = tf.range(self.slots, dtype=tf.float32)
        highs = tf.maximum(low, high / 2.0**slot)
        occupancy = (low + self.uniform(index, "occupancy", [self.slots]) * (highs - low))[:count]
        position = self.uniform(index, "position", [self.slots, 2])[:count]
        x1, y1, x2, y2 = tf.unstack(tf.gather(self.foregrounds.content, chosen), axis=1)
        scale = occupancy * tf.minimum(self.width / (x2 - x1), self.height / (y2 - y1))
        # Where the scaled image's top-left corner goes: anywhere it fits, or, when it is
        # larger than the background, anywhere it covers it.
        slack_x, slack_y = self.width - scale * (x2 - x1), self.height - scale * (y2 - y1)
        left = tf.minimum(0.0, slack_x) + position[:, 0] * tf.abs(slack_x)
        top = tf.minimum(0.0, slack_y) + position[:, 1] * tf.abs(slack_y)
        # Inverse of T(left, top) S(scale) T(-x1, -y1): T(x1, y1) S(1 / scale) T(-left, -top).
        inverse = translation(x1, y1) @ scaling(1.0 / scale) @ translation(-left, -top)
        undo = self.foreground_augmenter.inverse(drawn, self.side)
        if undo is not None:
            inverse = undo @ inverse
        return inverse


# Compositing and boxes ----------------------------------------------------------------------


def footprints(inverse, content, height, width):
    """[k, 4] int32 windows (x0, y0, x1, y1) of the output each foreground can touch: the
    corners of its image in its tile, taken through its transform, one pixel of room for the
    bilinear resampling, clipped to the output (empty when it is outside)."""
    forward = tf.linalg.inv(inverse)
    x1, y1, x2, y2 = tf.unstack(content, axis=1)
    xs, ys = tf.stack([x1, x2, x2, x1], axis=1), tf.stack([y1, y1, y2, y2], axis=1)
    moved = tf.einsum("kij,kcj->kci", forward, tf.stack([xs, ys, tf.ones_like(xs)], axis=-1))
    moved_x, moved_y = moved[..., 0] / moved[..., 2], moved[..., 1] / moved[..., 2]
    low_x = tf.clip_by_value(tf.floor(tf.reduce_min(moved_x, axis=1)) - 1, 0, width)
    low_y = tf.clip_by_value(tf.floor(tf.reduce_min(moved_y, axis=1)) - 1, 0, height)
    high_x = tf.clip_by_value(tf.math.ceil(tf.reduce_max(moved_x, axis=1)) + 1, low_x, width)
    high_y = tf.clip_by_value(tf.math.ceil(tf.reduce_max(moved_y, axis=1)) + 1, low_y, height)
    return tf.cast(tf.stack([low_x, low_y, high_x, high_y], axis=1), tf.int32)


def composite(image, premultiplied, inverse, windows, margin):
    """Alpha-composite the foregrounds (premultiplied RGBA tiles [k, S, S, 4], later ones on
    top) over `image` [H, W, 3]; returns (image, boxes [k, 4], kept [k]).

    Front to back, each foreground resampled only inside its window: `clear` [H, W, 1] is
    what the foregrounds already done (the later ones) let through, so what shows of this
    one is its alpha times `clear`, and what it adds is its colour times `clear`. The
    background, last, shows through what every foreground lets through.
    """
    height, width = image.shape[0], image.shape[1]
    count = tf.shape(premultiplied)[0]
    boxes = tf.TensorArray(tf.float32, size=count, element_shape=[4])
    kept = tf.TensorArray(tf.bool, size=count, element_shape=[])

    def step(j, colour, clear, boxes, kept):
        x0, y0, x1, y1 = tf.unstack(windows[j])
        size = tf.stack([y1 - y0, x1 - x0])
        # Window pixels to output pixels to the tile.
        shift = tf.cast(tf.stack([[1, 0, x0], [0, 1, y0], [0, 0, 1]]), tf.float32)
        warped = warp(premultiplied[j][None], (inverse[j] @ shift)[None], tf.maximum(size, 1))[0]
        warped = warped[: size[0], : size[1]]
        alpha = tf.clip_by_value(warped[..., 3:], 0.0, 1.0)
        begin, end = tf.stack([y0, x0, 0]), tf.stack([y1, x1, 1])
        here = tf.slice(clear, begin, tf.concat([size, [1]], 0))
        box, keep = object_box(alpha[..., 0], (alpha * here)[..., 0], x0, y0, margin, height, width)
        colour = update(colour, begin, tf.stack([y1, x1, 3]),
                        tf.slice(colour, begin, tf.concat([size, [3]], 0)) + here * warped[..., :3])
        clear = update(clear, begin, end, here * (1.0 - alpha))
        return j - 1, colour, clear, boxes.write(j, box), kept.write(j, keep)

    _, colour, clear, boxes, kept = tf.while_loop(
        lambda j, *_: j >= 0, step,
        (count - 1, tf.zeros([height, width, 3]), tf.ones([height, width, 1]), boxes, kept))
    return colour + clear * image, boxes.stack(), kept.stack()


def update(tensor, begin, end, value):
    """`tensor` with [begin, end) replaced by `value`."""
    return tf.raw_ops.TensorStridedSliceUpdate(input=tensor, begin=begin, end=end, strides=[1, 1, 1], value=value)


def object_box(alpha, visible, x0, y0, margin, height, width):
    """The box of one object, tight to what shows of it, and whether it is kept.

    `alpha` [h, w] is the object's own opacity in its window (whose top-left pixel is (x0, y0)
    in the image), `visible` what shows of it under the later objects. The box is the extent of
    the pixels where it shows with opacity at least BOX_ALPHA, [x1, y1, x2, y2] with x2, y2 one
    past the last column and row, widened by `margin` pixels on every side and clipped to the
    image. It is dropped (kept False) when fewer than MIN_VISIBLE_FRACTION of the object's own
    pixels in the image (opacity at least BOX_ALPHA) show, or none does.
    """
    shows = visible >= BOX_ALPHA
    own = tf.reduce_sum(tf.cast(alpha >= BOX_ALPHA, tf.float32))
    seen = tf.reduce_sum(tf.cast(shows, tf.float32))
    keep = (seen > 0) & (seen >= MIN_VISIBLE_FRACTION * own)
    x1, x2 = extent(tf.reduce_any(shows, axis=0)[None])
    y1, y2 = extent(tf.reduce_any(shows, axis=1)[None])
    box = tf.cast(tf.concat([x1 + x0 - margin, y1 + y0 - margin, x2 + x0 + margin, y2 + y0 + margin], 0), tf.float32)
    box = tf.clip_by_value(box, 0.0, tf.constant([width, height, width, height], tf.float32))
    return tf.where(keep, box, 0.0), keep


def extent(occupied):
    """First index and one past the last of the True entries of each row of `occupied`."""
    size = tf.shape(occupied)[1]
    as_int = tf.cast(occupied, tf.int32)
    first = tf.argmax(as_int, axis=1, output_type=tf.int32)
    last = size - tf.argmax(tf.reverse(as_int, axis=[1]), axis=1, output_type=tf.int32)
    return first, last


# Matrices and resampling ----------------------------------------------------------------------


def translation(dx, dy):
    one, zero = tf.ones_like(dx), tf.zeros_like(dx)
    return tf.reshape(tf.stack([one, zero, dx, zero, one, dy, zero, zero, one], axis=1), [-1, 3, 3])


def scaling(factor):
    one, zero = tf.ones_like(factor), tf.zeros_like(factor)
    return tf.reshape(tf.stack([factor, zero, zero, zero, factor, zero, zero, zero, one], axis=1), [-1, 3, 3])


def warp(images, inverse, output_hw):
    """Resample `images` [k, h, w, C] into [k, H, W, C] through the output-to-input maps
    `inverse`, bilinear, zero (transparent) outside the input."""
    # The op works on pixel indices, whose centres sit at +0.5 in continuous coordinates.
    half = tf.fill([tf.shape(inverse)[0]], 0.5)
    index_map = translation(-half, -half) @ inverse @ translation(half, half)
    index_map = index_map / index_map[:, 2:3, 2:3]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.reshape(index_map, [-1, 9])[:, :8],
        output_shape=tf.cast(output_hw, tf.int32), fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT",
    )

