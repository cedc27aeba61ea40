"""The `descent_algorithm` optimizers and the learning-rate schedule."""

from pyramid.importers import keras, tf
from pyramid.train import optimizer_settings


def make_optimizer(config, learning_rate, averaging=None):
    """The optimizer named by `config.descent_algorithm`, driven by `learning_rate`, built
    from its row of `optimizer_settings.OPTIMIZERS`; keeping `averaging`'s moving average
    of the weights (a `WeightAveraging`) when one is given."""
    name = config.descent_algorithm
    given = {key: getattr(config, key) for key in optimizer_settings.SETTING_NAMES}
    arguments = optimizer_settings.keras_arguments(name, given)
    optimizer_class = getattr(keras.optimizers, optimizer_settings.OPTIMIZERS[name].keras_class)
    if averaging is None:
        return optimizer_class(learning_rate, **arguments)
    return averaging.build(optimizer_class, learning_rate, **arguments)


class PhasedWarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate * phase_factor * min(1, i / warmup) ** 2` at (1-based) iteration i.

    The iteration counts the steps of the whole candidate (the optimizer's own count plus
    `step_offset`), so the warmup happens once and never restarts with a later phase. `phase_factor` is a
    variable the training controller lowers when the holdout stops improving.
    """

    def __init__(self, learning_rate, warmup_iterations):
        self.learning_rate = float(learning_rate)
        self.warmup_iterations = int(warmup_iterations)
        self.phase_factor = tf.Variable(1.0, trainable=False, dtype=tf.float32, name="phase_factor")
        # Steps taken by earlier optimizers of the same candidate (see fit_candidate).
        self.step_offset = tf.Variable(0, trainable=False, dtype=tf.int64, name="step_offset")

    def __call__(self, step):
        rate = self.learning_rate * self.phase_factor
        if self.warmup_iterations > 0:
            iteration = tf.cast(tf.cast(step, tf.int64) + self.step_offset, tf.float32) + 1.0
            ramp = tf.minimum(1.0, iteration / self.warmup_iterations)
            rate = rate * ramp**2
        return rate

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_iterations": self.warmup_iterations}
