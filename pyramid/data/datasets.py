"""tf.data pipelines of training and holdout batches.

Inside a pipeline a batch is a dict, so that everything belonging to a row travels with its
image through augmentation: "image" (float32 [B, H, W, 3]), "row" (the rows' indices in
training_data), and, once attached, "target" and "weight". Keras receives
(image, target, weight) tuples at the end.

Images come from one of two sources, chosen by `max_data_size`:
- `MemoryImages`: every image decoded and rescaled once, kept as uint8;
- `FileImages`: images read, decoded and rescaled from disk for every batch.
Both give the float32 pixels sensenet computes for the same files (`pyramid.data.reading`).

Row order is drawn with stateless random ops from (seed, epoch), so one seed gives the same
batches whatever the parallelism. Under several replicas each worker's pipeline keeps only
its share of every global batch of that order (`pyramid.train.distributed_input`).
"""

import os
import re

import numpy as np

from pyramid.data import reading
from pyramid.errors import ImageFileError
from pyramid.importers import tf

DECODE_BATCH = 64
# Fixed parallelism instead of tf.data.AUTOTUNE: autotuning runs a model thread that wakes
# ever more rarely (its period doubles towards a minute), and deleting an iterator waits for
# it to wake. Here that stalled the end of a 30 s candidate by 13 s in two runs of five.
PARALLEL_CALLS = os.cpu_count() or 1
PREFETCH_BATCHES = 2


class ImageSource:
    """What both sources share: batches as dicts, from `batched` and `assemble`.

    A source splits its work in two so that the pipeline can run everything after reading
    in one map per batch (each tf.data map costs a pass of its own): `batched(indices, ...)`
    is a dataset of per-batch elements (whatever the source must read per image, already
    batched), and `assemble(element)` turns one into (float32 images, rows).
    """

    def batches(self, indices, batch_size, drop_remainder):
        """A dataset of {"image": float32 [B, H, W, 3], "row": int64 [B]} for `indices`."""

        def to_dict(element):
            images, rows = self.assemble(element)
            return {"image": images, "row": rows}

        batched = self.batched(indices, batch_size, drop_remainder)
        return batched.map(to_dict, num_parallel_calls=PARALLEL_CALLS)


class MemoryImages(ImageSource):
    """All images decoded once into uint8 variables.

    Variables, not constants: a dataset function captures a variable by its handle, so the
    pixels are neither embedded in the dataset's graph (which cannot exceed 2 GiB) nor
    copied; they are decoded straight into the variable batch by batch (`decode_all`), so
    memory peaks at one copy of the pixels plus a batch.
    """

    def __init__(self, paths, decoders, shape_hw, rescale_type):
        self.paths = list(paths)
        self.padded = rescale_type == "pad"
        self.pixels, self.content_hw, self.fill = decode_all(self.paths, decoders, shape_hw, rescale_type)

    def batched(self, indices, batch_size, drop_remainder):
        return indices.batch(batch_size, drop_remainder=drop_remainder)

    def assemble(self, rows):
        parts = (tf.gather(self.pixels, rows), tf.gather(self.content_hw, rows), tf.gather(self.fill, rows))
        return reading.fill_padding(*parts, padded=self.padded), rows

    def raise_unreadable(self):
        """Nothing to find: every image was decoded when the source was made."""


class FileImages(ImageSource):
    """Images read from disk each time they are needed."""

    def __init__(self, paths, decoders, shape_hw, rescale_type):
        self.paths = list(paths)
        self.decoders = list(decoders)
        self.shape_hw = shape_hw
        self.rescale_type = rescale_type
        self.padded = rescale_type == "pad"
        self.read = file_reader(self.paths, self.decoders, shape_hw, rescale_type)

    def batched(self, indices, batch_size, drop_remainder):
        # A dict, not a tuple: tf.data would spread a tuple over a map function's arguments.
        elements = indices.map(lambda row: {"parts": self.read(row), "row": row}, num_parallel_calls=PARALLEL_CALLS)
        return elements.batch(batch_size, drop_remainder=drop_remainder)

    def assemble(self, element):
        return reading.fill_padding(*element["parts"], padded=self.padded), element["row"]

    def subset_in_memory(self, rows, max_data_size):
        """A MemoryImages of the files of `rows` (in that order) when their pixels fit in
        `max_data_size` bytes, else None: the holdout, decoded once instead of at every
        check."""
        height, width = self.shape_hw
        if len(rows) * height * width * 3 > max_data_size:
            return None
        paths = [self.paths[row] for row in rows]
        decoders = [self.decoders[row] for row in rows]
        return MemoryImages(paths, decoders, self.shape_hw, self.rescale_type)

    def raise_unreadable(self):
        """Raise ImageFileError for the first file that does not decode (after a failure)."""
        raise_first_unreadable(self.paths, self.decoders, self.shape_hw, self.rescale_type)


def image_source(paths, shape_hw, rescale_type, max_data_size):
    """MemoryImages when the uint8 pixels fit in `max_data_size` bytes, else FileImages.

    Every file's header is read first to choose its decoder as sensenet would, so a file
    sensenet would not read as pyramid does is named before any training starts.
    """
    infos = [reading.inspect_image(path, shape_hw, rescale_type) for path in paths]
    decoders = [info.decoder for info in infos]
    height, width = shape_hw
    if len(paths) * height * width * 3 <= max_data_size:
        source = MemoryImages(paths, decoders, shape_hw, rescale_type)
    else:
        source = FileImages(paths, decoders, shape_hw, rescale_type)
    # (height, width) of each image as stored: boxes are scaled from them.
    source.sizes = np.array([(info.height, info.width) for info in infos], np.int64)
    return source


def file_reader(paths, decoders, shape_hw, rescale_type):
    """A graph function: file index -> (pixels, content_hw, fill) of that file."""
    path_tensor = tf.constant(paths, tf.string)
    decode = reading.decoding(decoders)

    def read(index):
        image = decode(tf.io.read_file(tf.gather(path_tensor, index)), index)
        return reading.rescale(image, shape_hw, rescale_type)

    return read


def decode_all(paths, decoders, shape_hw, rescale_type):
    """Variables of the uint8 pixels [N, H, W, 3], content sizes and pad fills of every file,
    decoded in parallel and written into them batch by batch.

    Made outside any distribution strategy's scope (under one, a variable would be copied
    to every replica). `scatter_update` writes in place: slicing assignment would first
    copy the whole variable.
    """
    if tf.distribute.has_strategy():
        raise RuntimeError("image sources are made outside distribution strategy scopes")
    height, width = shape_hw
    count = len(paths)
    with tf.device("/cpu:0"):
        variables = (
            tf.Variable(tf.zeros([count, height, width, 3], tf.uint8), trainable=False),
            tf.Variable(tf.zeros([count, 2], tf.int32), trainable=False),
            tf.Variable(tf.zeros([count], tf.float32), trainable=False),
        )
    read = file_reader(paths, decoders, shape_hw, rescale_type)
    dataset = tf.data.Dataset.range(count)
    dataset = finish(dataset.map(lambda row: (read(row), row), num_parallel_calls=PARALLEL_CALLS).batch(DECODE_BATCH))
    try:
        for parts, rows in dataset:
            for variable, part in zip(variables, parts):
                variable.scatter_update(tf.IndexedSlices(part, rows))
    except tf.errors.InvalidArgumentError:
        raise_first_unreadable(paths, decoders, shape_hw, rescale_type)
        raise
    return variables


def raise_first_unreadable(paths, decoders, shape_hw, rescale_type):
    """Find the file whose decoding failed, one at a time (only after a failure)."""
    for path, decoder in zip(paths, decoders):
        try:
            reading.read_parts(tf.constant(path), decoder, shape_hw, rescale_type)
        except tf.errors.InvalidArgumentError as error:
            raise ImageFileError(path, decoder_message(error)) from None


def decoder_message(error):
    """TensorFlow's reason, without its op and device decorations."""
    text = error.message.splitlines()[0] if error.message else ""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", text)
    return text or "cannot decode it"


def shuffled_rows(rows, seed):
    """An endless dataset of `rows`, freshly permuted in each epoch from (seed, epoch)."""
    rows = tf.constant(rows, tf.int64)
    seed = tf.constant(seed, tf.int64)

    def epoch_rows(epoch):
        permuted = tf.random.experimental.stateless_shuffle(rows, seed=tf.stack([seed, epoch]))
        return tf.data.Dataset.from_tensor_slices(permuted)

    return tf.data.Dataset.range(2**62).flat_map(epoch_rows)


def balanced_rows(rows, classes, seed):
    """An endless dataset of `rows` in which every class is equally likely at each draw.

    Each draw picks a class uniformly, then a row of that class uniformly (with
    replacement); draws come in blocks of len(rows) seeded from (seed, block).
    """
    rows = np.asarray(rows)
    classes = np.asarray(classes)[rows]
    labels, counts = np.unique(classes, return_counts=True)
    by_class = tf.constant(np.concatenate([rows[classes == c] for c in labels]), tf.int64)
    starts = tf.constant(np.concatenate([[0], np.cumsum(counts)[:-1]]), tf.int64)
    counts = tf.constant(counts, tf.int64)
    block = len(rows)
    seed = tf.constant(seed, tf.int64)

    def block_rows(index):
        seeds = tf.random.experimental.stateless_split(tf.stack([seed, index]), num=2)
        picked = tf.random.stateless_uniform(
            [block], seeds[0], maxval=len(labels), dtype=tf.int64
        )
        position = tf.random.stateless_uniform([block], seeds[1])
        offset = tf.cast(position * tf.cast(tf.gather(counts, picked), tf.float32), tf.int64)
        offset = tf.minimum(offset, tf.gather(counts, picked) - 1)
        return tf.data.Dataset.from_tensor_slices(tf.gather(by_class, tf.gather(starts, picked) + offset))

    return tf.data.Dataset.range(2**62).flat_map(block_rows)


def training_dataset(images, row_values, weights, rows, batch_size, seed, balance_classes=None,
                     augment=None, to_keras=None, share=None):
    """Endless batches over the training `rows`: dicts, or what `to_keras(batch)` makes of
    them (Keras' (inputs, targets, weights)).

    `row_values` {name: array with a row per training point} are gathered into each batch
    under their names ("target"; "boxes" and "count" for detection), as is "weight".
    `balance_classes`, when given, is a class id per row (of all rows) to balance on.
    `augment(images, batch_number, boxes=None)`, when given, transforms each batch's images,
    and its boxes when it has any; batches are numbered from 0 over the whole stream, so
    every epoch gets fresh, reproducible draws.
    `share(order)`, when given, keeps the rows of the order this pipeline reads (its share of
    every global batch under several replicas, `pyramid.train.distributed_input`);
    `batch_size` is then the per-replica batch.

    Everything after reading happens in one map per batch: assembling the float images,
    gathering the rows' values, augmenting and making Keras' tuple. (Each further map cost
    a tenth of the pipeline's throughput.)
    """
    if balance_classes is None:
        order = shuffled_rows(rows, seed)
    else:
        order = balanced_rows(rows, balance_classes, seed)
    if share is not None:
        order = share(order)
    values = {name: tf.constant(value) for name, value in row_values.items()}
    values["weight"] = tf.constant(weights, tf.float32)

    def make_batch(number, element):
        pixels, batch_rows = images.assemble(element)
        batch = {"image": pixels, "row": batch_rows}
        batch.update({name: tf.gather(value, batch_rows) for name, value in values.items()})
        if augment:
            batch = augment_batch(augment, batch, number)
        return batch if to_keras is None else to_keras(batch)

    batched = images.batched(order, batch_size, True)
    return finish(batched.enumerate().map(make_batch, num_parallel_calls=PARALLEL_CALLS))


def augment_batch(augment, batch, number):
    """The batch with its images augmented and its boxes, if any, moved with them: boxes
    the augmentation pushes out are dropped, the others packed first, `count` updated."""
    if "boxes" not in batch:
        return dict(batch, image=augment(batch["image"], number))
    boxes = batch["boxes"]
    images, corners, kept = augment(batch["image"], number, boxes=boxes[..., :4])
    valid = kept & (tf.range(tf.shape(boxes)[1])[None, :] < tf.cast(batch["count"][:, None], tf.int32))
    moved = tf.concat([corners, boxes[..., 4:]], axis=-1)
    order = tf.argsort(tf.cast(tf.logical_not(valid), tf.int32), axis=1, stable=True)
    packed = tf.where(tf.gather(valid, order, batch_dims=1)[..., None], tf.gather(moved, order, batch_dims=1), 0.0)
    return dict(batch, image=images, boxes=packed, count=tf.reduce_sum(tf.cast(valid, tf.int32), axis=1))


def evaluation_dataset(images, rows, batch_size):
    """One pass over `rows`, in order, of image batches only."""
    order = tf.data.Dataset.from_tensor_slices(tf.constant(rows, tf.int64))
    batched = images.batched(order, batch_size, False)
    return finish(batched.map(lambda element: images.assemble(element)[0], num_parallel_calls=PARALLEL_CALLS))


def finish(dataset):
    """Prefetch, with tf.data's autotuning switched off (see PARALLEL_CALLS)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)
