"""Checking, keeping and writing an exponential moving average of the weights
(`weight_averaging`) instead of the weights of the last batch.

The optimizer keeps the average inside the training step (tf-keras' `use_ema`: a copy of
every trainable variable, updated on each replica's device after each step, so no host
work per step). Its momentum follows the optimizer's own step count: the average spans the
last tenth of the batches since it (re)started, and never more than 1 / (1 - momentum)
batches. So a short or slow run averages over a short stretch, the weights of a phase's
start never linger, and the noise of single steps averages out. Being a function of the
step count, not of the clock, it keeps a run's weights reproducible.

Holdout checks evaluate the averaged weights (`averaged`): they are what is compared, kept
as the best and, in the end, written out. The next phase starts from those best weights,
and the average restarts there (`restart`).

This leans on two tf-keras 2.21 internals, pinned with it: the average's variables
(`_model_variables_moving_average`, indexed like the optimizer's own) and the method that
updates them, whose momentum `AveragingOptimizer` makes a tensor of the step.
"""

import contextlib
import functools

from pyramid.importers import tf

# The average spans at most this fraction of the batches since it (re)started.
HORIZON_FRACTION = 0.1


class WeightAveraging:
    """The averaged weights of one candidate, kept by its current optimizer."""

    def __init__(self, momentum):
        self.maximum = float(momentum)
        # The optimizer's step count when the average last (re)started.
        self.start = tf.Variable(0, trainable=False, dtype=tf.int64, name="averaging_start")
        self.optimizer = None

    def build(self, optimizer_class, learning_rate, **arguments):
        """A new `optimizer_class` (a tf-keras optimizer class) that keeps the average, its
        step count at 0; the average follows it from now on."""
        optimizer = _averaging_class(optimizer_class)(
            learning_rate, use_ema=True, ema_momentum=self.maximum, **arguments
        )
        optimizer.averaging = self
        self.optimizer = optimizer
        self.start.assign(0)
        return optimizer

    def momentum(self, step):
        """The momentum of the update after the optimizer's step `step` (counted from 0)."""
        batches = tf.cast(step - self.start, tf.float32)
        return tf.minimum(self.maximum, 1.0 - 1.0 / (1.0 + HORIZON_FRACTION * batches))

    @contextlib.contextmanager
    def averaged(self, model):
        """The model's trainable variables hold the averaged weights inside the block."""
        pairs = self._pairs(model)
        _swap(pairs)
        try:
            yield
        finally:
            _swap(pairs)

    def restart(self, model):
        """Restart the average from the model's current weights."""
        for var, average in self._pairs(model):
            average.assign(var)
        if self.optimizer is not None:
            self.start.assign(self.optimizer.iterations)

    def _pairs(self, model):
        """(variable, its average) for the model's trainable variables the optimizer updates;
        none before its first step builds it."""
        optimizer = self.optimizer
        if optimizer is None or not getattr(optimizer, "_built", False):
            return []
        averages = optimizer._model_variables_moving_average
        keys = [(var, optimizer._var_key(var)) for var in model.trainable_variables]
        return [(var, averages[optimizer._index_dict[key]]) for var, key in keys if key in optimizer._index_dict]


def _swap(pairs):
    for var, average in pairs:
        held = tf.identity(var)
        var.assign(average)
        average.assign(held)


@functools.lru_cache(maxsize=None)
def _averaging_class(base):
    """A subclass of the tf-keras optimizer class `base` whose moving average's momentum is
    its `averaging`'s function of the step count (tf-keras reads `ema_momentum` as a
    constant when it traces the update)."""

    class AveragingOptimizer(base):
        averaging = None

        def _update_model_variables_moving_average(self, var_list):
            # Called inside the step before the count advances: `iterations` is this step's.
            constant = self.ema_momentum
            self.ema_momentum = self.averaging.momentum(self.iterations)
            try:
                super()._update_model_variables_moving_average(var_list)
            finally:
                self.ema_momentum = constant

    return AveragingOptimizer
