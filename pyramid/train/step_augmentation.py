"""Augmentation inside the training step, on each replica's device (`augmentation_placement`
"device"): the input pipeline then only reads, decodes and batches, and the device, not the
CPU, does the augmentation's pixel work.

The batches are augmented exactly as the input pipeline would have augmented them: replica r
of R, in step s of a `fit`, augments its per-replica batch as batch number s * R + r of the
stream, the number `distributed_input.Share.batch_number` gives that batch in the pipeline
(and, with one replica, the pipeline's own batch number s). The step number s is read from
the optimizer's step counter, `optimizer.iterations`, at the start of the step:

- `fit_candidate` makes a new optimizer, and a new stream of batches numbered from 0, for
  every `fit`, so the counter counts the steps of this stream;
- Keras advances it once per step, also inside one execution of several steps
  (`steps_per_execution`, read again by every step of the loop), and across the passes
  (epochs) of a `fit`, over which Keras keeps one iterator of the endless dataset;
- mixed_float16's loss scaling advances it on the steps it skips for non-finite gradients
  too (tf-keras' LossScaleOptimizer), so a skipped step still uses up its batch number.

The draws are stateless (from the seed and the batch number), so nothing depends on
TensorFlow's global random state or on which device runs the step. When the replicas do not
divide `batch_size`, the input pipeline augments each whole global batch as number s, while
here each replica draws for its own uneven part, as number s * R + r: just as reproducible,
but not the same draws.

The augmentation happens in `train_step` only: the network written out, the holdout
predictions and `predict` never see it.
"""

from pyramid.importers import keras, tf


def step_batch_number(step):
    """The stream-wide batch number of this replica's batch in training step `step` (counted
    from 0 in the stream): step * R + r, as `distributed_input.Share.batch_number`."""
    context = tf.distribute.get_replica_context()
    replicas = tf.cast(context.num_replicas_in_sync, tf.int64)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
    return tf.cast(step, tf.int64) * replicas + replica


class AugmentingTrainer(keras.Model):
    """Trains `network` as Keras' own train step does, on (images, targets, weights) batches
    whose images `augment` (an Augmenter) first transforms on the replica's device."""

    def __init__(self, network, augment):
        super().__init__()
        self.network = network
        self.augment = augment

    def call(self, images, training=False):
        return self.network(images, training=training)

    def train_step(self, data):
        images, targets, weights = data
        # Read before the optimizer steps: the number of steps already taken in this stream.
        number = step_batch_number(self.optimizer.iterations)
        return super().train_step((self.augment(images, number), targets, weights))

    def get_weights(self):
        return self.network.get_weights()

    def set_weights(self, weights):
        self.network.set_weights(weights)


def training_model(model, augment):
    """`model` to compile and fit, or, with an `augment` (the device placement's Augmenter),
    an AugmentingTrainer around it."""
    return model if augment is None else AugmentingTrainer(model, augment)
