"""The `descent_algorithm` optimizers and the learning-rate schedule."""

from pyramid.importers import keras, tf


def _given(value, default):
    # An explicit 0 is a real value (the earlier implementation replaced it by the default).
    return default if value is None else value


def make_optimizer(config, learning_rate):
    """The optimizer named by `config.descent_algorithm`, driven by `learning_rate`."""
    name = config.descent_algorithm
    epsilon = _given(config.epsilon, 1e-7)
    betas = {"beta_1": _given(config.beta1, 0.9), "beta_2": _given(config.beta2, 0.999)}
    optimizers = keras.optimizers
    if name == "adam":
        return optimizers.Adam(learning_rate, epsilon=epsilon, **betas)
    if name == "adamax":
        return optimizers.Adamax(learning_rate, epsilon=epsilon, **betas)
    if name == "nadam":
        return optimizers.Nadam(learning_rate, epsilon=epsilon, **betas)
    if name == "adadelta":
        return optimizers.Adadelta(learning_rate, rho=_given(config.rho, 0.95), epsilon=epsilon)
    if name == "adagrad":
        accumulator = _given(config.init_accumulator, 0.1)
        return optimizers.Adagrad(learning_rate, initial_accumulator_value=accumulator, epsilon=epsilon)
    if name == "rms_prop":
        return optimizers.RMSprop(
            learning_rate, rho=_given(config.rho, 0.9), momentum=_given(config.momentum, 0.0),
            epsilon=epsilon,
        )
    if name == "ftrl":
        return optimizers.Ftrl(
            learning_rate,
            learning_rate_power=_given(config.learning_rate_power, -0.5),
            initial_accumulator_value=_given(config.init_accumulator, 0.1),
            l1_regularization_strength=_given(config.l1_regularization, 0.0),
            l2_regularization_strength=_given(config.l2_regularization, 0.0),
        )
    if name == "momentum":
        return optimizers.SGD(learning_rate, momentum=_given(config.momentum, 0.9), nesterov=True)
    if name == "sgd":
        # Plain SGD unless a momentum is given (the earlier implementation always used 0.9).
        return optimizers.SGD(learning_rate, momentum=_given(config.momentum, 0.0))
    raise ValueError("unknown descent_algorithm %r" % name)


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
