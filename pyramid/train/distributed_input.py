"""Training batches under several replicas: each input pipeline reads only its own share.

tf.distribute runs one input pipeline per worker process (one per machine under
MultiWorkerMirroredStrategy; one for all of the machine's devices under MirroredStrategy)
and gives the replicas of that worker consecutive per-replica batches from it. `batch_size`
is the global batch: each of R replicas trains on batch_size / R rows of it per step.

`distributed_batches` builds each worker's pipeline with
`strategy.distribute_datasets_from_function`, from its `tf.distribute.InputContext`:
- rows: every pipeline draws the same stateless permutation (or class-balanced draws) from
  the seed, cuts it into global batches, and keeps only the contiguous slice of each global
  batch that its own replicas train on (`Share.rows`). The pipelines read disjoint rows, and
  together, in each step, exactly the rows one device would train on in that step;
- augmentation: the per-replica batch of replica r in step s is augmented as batch number
  s * R + r of the stream (`Share.batch_number`). Draws are per image from (seed, batch
  number), so no two images of a step share their draws (two workers augmenting "their
  batch 0" with the same seed would draw the same augmentations for their halves), and the
  batches depend on the seed and R only, not on how the replicas are spread over workers:
  two workers of one replica train on the batches one machine with two devices trains on.

Keras' default, a plain dataset given to `fit`, makes every worker read, decode and augment
the whole global batch, then throw away all but its share: auto-sharding cannot split a
pipeline that reads no files, so it shards by data, after all the work (measured with two
workers on localhost: each read 1.18 times the images the run trained on, against 0.57 here,
the excess being the batches read ahead when training stopped).

Under MirroredStrategy (the devices of one machine) each replica gets a pipeline of its
own, which reads only that replica's rows and feeds its device (`input_options`; see there
for why not one pipeline split over the devices), so each image is still read once, and one
machine with R devices and R workers of one device train on the same batches. That is no
slower: 1,535 against 1,538 training images/s for `simple` at 32x32 on two logical CPU
devices (`benchmarks/train.py --throughput`). Under MultiWorkerMirroredStrategy each
worker has one pipeline for its replicas.

With one replica, or a global batch that the replicas cannot split evenly (Keras then
splits it unevenly, every pipeline reading all of it), the plain dataset is used.

`ImagesRead` counts the training images each process's pipelines actually produced, so
that a run can show (and the two-worker test assert) that each worker read only its share.
"""

from pyramid.importers import tf


class Share:
    """The rows one input pipeline reads of every global batch, and how its batches are
    numbered for augmentation."""

    def __init__(self, global_batch, replicas, first_replica, local_replicas):
        self.global_batch = global_batch
        self.replicas = replicas
        self.first_replica = first_replica
        self.local_replicas = local_replicas
        self.per_replica_batch = global_batch // replicas

    @classmethod
    def of(cls, context, global_batch):
        """The share of the pipeline of `context` (a tf.distribute.InputContext)."""
        per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
        return cls(global_batch, context.num_replicas_in_sync, context.input_pipeline_id * per_pipeline, per_pipeline)

    @property
    def whole(self):
        return self.local_replicas == self.replicas

    def rows(self, order):
        """The rows of `order` (a dataset of row indices) this pipeline reads: its slice of
        every consecutive `global_batch` rows."""
        if self.whole:
            return order
        start = self.first_replica * self.per_replica_batch
        stop = start + self.local_replicas * self.per_replica_batch
        batches = order.batch(self.global_batch, drop_remainder=True)
        return batches.map(lambda rows: rows[start:stop]).unbatch()

    def batch_number(self, number):
        """The stream-wide number of this pipeline's `number`th per-replica batch."""
        step = number // self.local_replicas
        return step * self.replicas + self.first_replica + number % self.local_replicas

    def numbered(self, augment):
        """`augment` (an Augmenter), drawing for each batch by its stream-wide number."""
        return NumberedAugmenter(augment, self)


class NumberedAugmenter:
    """An Augmenter called with a pipeline's batch numbers, drawing by stream-wide ones."""

    def __init__(self, augment, share):
        self.augment = augment
        self.share = share

    def __bool__(self):
        return bool(self.augment)

    def __call__(self, images, batch_index, boxes=None):
        number = self.share.batch_number(tf.cast(batch_index, tf.int64))
        if boxes is None:
            return self.augment(images, number)
        return self.augment(images, number, boxes=boxes)


def distributed_batches(strategy, global_batch, make_batches):
    """Training batches for `strategy`: `make_batches(share)` makes a pipeline's dataset of
    per-replica batches for a `Share`, or of global batches for None."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1 or global_batch % replicas:
        return make_batches(None)
    return strategy.distribute_datasets_from_function(
        lambda context: make_batches(Share.of(context, global_batch)), options=input_options(strategy)
    )


def input_options(strategy):
    """One pipeline per replica under MirroredStrategy (one machine's devices), each feeding
    its device directly; tf.distribute's default elsewhere (a pipeline per worker).

    The default on one machine, one pipeline split over the devices by a multi-device
    iterator, wraps each device's share in a dataset of its own, with tf.data's autotuning
    on. Deleting that iterator at the end of a `fit` often waited up to a minute (17 s
    typically here, 70 s once; gdb showed the main thread in `~RootDataset::Iterator`,
    waiting for an autotuning thread, `Model::OptimizeLoop`, in a timed wait; a bare
    pipeline of numbers did not reproduce it, so the trigger inside TensorFlow is not pinned
    down). Per-replica pipelines are our own datasets, autotuning off, and have not waited.
    """
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return tf.distribute.InputOptions(
            experimental_fetch_to_device=False,
            experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA,
        )
    return None


class ImagesRead:
    """How many training images this process's input pipelines have produced (read,
    decoded and augmented), counted inside the pipelines as batches leave them."""

    def __init__(self):
        # Made outside any strategy scope (TrainingData is), so it is a plain local variable.
        self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="images_read")

    def counting(self, to_keras):
        """`to_keras` (a batch dict -> Keras' batch), counting each batch's images first."""

        def count_and_convert(batch):
            with tf.control_dependencies([self.variable.assign_add(tf.shape(batch["image"], tf.int64)[0])]):
                batch = dict(batch, image=tf.identity(batch["image"]))
            return to_keras(batch)

        return count_and_convert

    def total(self):
        return int(self.variable.numpy())
