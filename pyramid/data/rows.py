"""tf.data batches of feature rows (the worker's cached datasets), with mixup in graph ops.

Rows are drawn as image rows are (`pyramid.data.datasets`: a fresh stateless permutation each
epoch, or class-balanced draws), gathered from constant tensors, and with `mixup_alpha` mixed
with a partner row of the same batch: inputs, targets and weights all
`lam * a + (1 - lam) * b`, lam ~ Beta(alpha, alpha) per row, drawn statelessly from
(seed, batch number), so one seed gives the same batches at any parallelism.
"""

import numpy as np

from pyramid.data.datasets import PARALLEL_CALLS, balanced_rows, finish, shuffled_rows
from pyramid.importers import tf


def training_batches(features, targets, weights, rows, batch_size, seed, balance_classes=None, mixup_alpha=None):
    """Endless (inputs, targets, weights) batches over `rows` of the arrays."""
    order = shuffled_rows(rows, seed) if balance_classes is None else balanced_rows(rows, balance_classes, seed)
    columns = tuple(tf.constant(np.asarray(array, np.float32)) for array in (features, targets, weights))

    def gather(indices):
        return tuple(tf.gather(column, indices) for column in columns)

    batches = order.batch(batch_size, drop_remainder=True).map(gather, num_parallel_calls=PARALLEL_CALLS)
    if mixup_alpha:
        batches = batches.enumerate().map(
            lambda number, batch: mixup(batch, mixup_alpha, tf.stack([tf.constant(seed, tf.int64), number])),
            num_parallel_calls=PARALLEL_CALLS,
        )
    return finish(batches)


def evaluation_batches(features, rows, batch_size):
    """One pass over `rows`, in order, of input batches only."""
    return finish(tf.data.Dataset.from_tensor_slices(np.asarray(features, np.float32)[rows]).batch(batch_size))


def mixup(batch, alpha, seed):
    """Each row mixed with a partner drawn from the same batch."""
    inputs, targets, weights = batch
    size = tf.shape(inputs)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    partner = tf.random.experimental.stateless_shuffle(tf.range(size), seed=seeds[0])
    first = tf.random.stateless_gamma([size], seeds[1], alpha)
    second = tf.random.stateless_gamma([size], seeds[2], alpha)
    lam = tf.math.divide_no_nan(first, first + second)  # both 0 (tiny alpha): the partner

    def mix(values):
        shape = tf.concat([[size], tf.ones([tf.rank(values) - 1], tf.int32)], axis=0)
        share = tf.reshape(lam, shape)
        return share * values + (1 - share) * tf.gather(values, partner)

    return mix(inputs), mix(targets), mix(weights)
