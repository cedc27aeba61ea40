"""The training and holdout rows of a config, with their images, targets and weights.

Training batches are made for the tf.distribute strategy in scope: under several replicas
each worker's input pipeline reads, decodes and augments only its replicas' share of every
global batch (`pyramid.train.distributed_input`). With `augmentation_placement` "device"
the pipeline does not augment: the training step does (`pyramid.train.step_augmentation`).
"""

import numpy as np

from pyramid.augment.augmenter import Augmenter
from pyramid.data.datasets import MemoryImages, evaluation_dataset, image_source, training_dataset
from pyramid.data.holdout import missed_strata, split_holdout
from pyramid.importers import tf
from pyramid.objectives import make_objective
from pyramid.train.distributed_input import ImagesRead, distributed_batches

EVALUATION_BATCH = 64


class TrainingData:
    """Everything the candidates share: decoded once, before the first candidate."""

    def __init__(self, config):
        self.config = config
        self.objective = make_objective(config)
        strata = self.objective.strata()
        self.train_rows, self.holdout_rows = split_holdout(
            strata, config.holdout_set_size, config.seed, config.holdout_rate
        )
        # Classes with no holdout row are never checked (said in `describe`).
        self.missed_classes = missed_strata(strata, self.holdout_rows) if self.objective.strata_are_classes else 0
        if config.cheat_on_validation:
            self.train_rows = np.arange(len(config.labels))

        self.images = image_source(
            config.image_paths, config.image_shape_hw, config.rescale_type, config.max_data_size
        )
        self.holdout_images, self.holdout_order = self.images, self.holdout_rows
        if not self.in_memory:
            # Streaming: the holdout is checked many times; decode it once if it fits.
            subset = self.images.subset_in_memory(self.holdout_rows, config.max_data_size)
            if subset is not None:
                self.holdout_images, self.holdout_order = subset, np.arange(len(self.holdout_rows))
        self.objective.fit_images(self.images.sizes, config.image_paths)
        self.row_values = self.objective.row_values()
        # Weights are relative: scaled to mean 1 so they do not change the learning rate.
        weights = np.asarray(config.weights, dtype=np.float32)
        self.weights = weights / weights.mean()

        self.holdout_truth = self.objective.truth(self.holdout_rows)
        self.holdout_weights = self.weights[self.holdout_rows]
        self.augmentation_seed = config.augmentation_seed if config.augmentation_seed is not None else config.seed
        self.images_read = ImagesRead()

    @property
    def in_memory(self):
        return isinstance(self.images, MemoryImages)

    @property
    def augments_in_step(self):
        """Whether the training step augments the batches (`augmentation_placement` "device",
        with augmentations), the input pipeline only reading and batching them."""
        return self.config.augmentation_placement == "device" and bool(self.config.augmentations)

    def augmenter(self, stream=0):
        """The Augmenter of batch stream `stream`."""
        return Augmenter(self.config.augmentations, stream_seed(self.augmentation_seed, stream))

    def step_augmenter(self, stream=0):
        """The Augmenter the training step applies to the batches of `stream`, or None when
        the input pipeline augments them (or there is nothing to augment)."""
        return self.augmenter(stream) if self.augments_in_step else None

    def augmented_batches(self, stream=0, to_keras=None, share=None, augment=True):
        """Endless augmented training batches, as dicts (see `pyramid.data.datasets`) or as
        `to_keras` makes them; each `stream` number draws its own order. With a `share`
        (a `distributed_input.Share`), one input pipeline's per-replica batches. `augment`
        False: the same batches not augmented."""
        balance = self.objective.balance_ids() if self.config.balance_objective else None
        augmenter = self.augmenter(stream) if augment else None
        batch_size = self.config.batch_size
        if share is not None:
            augmenter = share.numbered(augmenter) if augmenter is not None else None
            batch_size = share.per_replica_batch
        return training_dataset(
            self.images, self.row_values, self.weights, self.train_rows,
            batch_size, stream_seed(self.config.seed, stream), balance, augmenter, to_keras,
            share=share.rows if share is not None else None,
        )

    def training_batches(self, stream=0, document=None):
        """Keras' (inputs, targets, weights) batches for training the network of `document`,
        distributed over the replicas of the strategy in scope (each worker reading only its
        share), augmented unless the training step augments them (`step_augmenter`); the
        images they hold are counted in `images_read`."""
        to_keras = self.images_read.counting(self.objective.keras_batches(document))
        augment = not self.augments_in_step
        return distributed_batches(
            tf.distribute.get_strategy(), self.config.batch_size,
            lambda share: self.augmented_batches(stream, to_keras, share, augment),
        )

    def holdout_batches(self):
        """The holdout's network inputs, in batches, in holdout_rows order."""
        return evaluation_dataset(self.holdout_images, self.holdout_order, EVALUATION_BATCH)

    def sample_images(self):
        """The images of a first augmented training batch (TensorBoard shows them)."""
        try:
            return next(iter(self.augmented_batches()))["image"]
        except tf.errors.InvalidArgumentError:
            self.raise_unreadable()
            raise

    def raise_unreadable(self):
        """After a decoding failure while streaming: raise naming the file."""
        self.images.raise_unreadable()

    def describe(self):
        where = "in memory" if self.in_memory else "read from disk each pass"
        text = "%d training rows, %d holdout rows, images %s" % (
            len(self.train_rows), len(self.holdout_rows), where,
        )
        if self.missed_classes:
            text += "; the holdout misses %d of %d classes (more classes than holdout rows, " \
                "or classes of one row)" % (self.missed_classes, len(self.objective.classes))
        return "; ".join([text] + self.objective.notes())


def stream_seed(seed, stream):
    """The seed of the `stream`th batch stream: the seed itself for the first."""
    return seed if stream == 0 else (seed * 1000003 + stream) % (2**31 - 1)
