"""The `descent_algorithm` optimizers: one table row per optimizer, without TensorFlow.

Each row names the Keras optimizer class, the config settings the optimizer takes (with the
Keras argument each becomes and its default) and any fixed arguments. The config accepts the
algorithm names of this table and refuses a setting the chosen algorithm does not take
(`pyramid.config`); `pyramid.train.optimizers` builds the optimizer from the same row. Adding
an optimizer is adding a row.

An explicit 0 in the config is used as 0 (the earlier implementation replaced it by the
default).
"""

from typing import NamedTuple


class Setting(NamedTuple):
    argument: str  # the Keras constructor argument
    default: float


class Optimizer(NamedTuple):
    keras_class: str  # a class of keras.optimizers
    settings: dict  # config key: Setting
    fixed: dict = {}  # Keras arguments that are not settings


# Every optimizer setting a config may give; which of them an algorithm takes is its row's.
SETTING_NAMES = (
    "beta1", "beta2", "epsilon", "momentum", "rho", "init_accumulator",
    "l1_regularization", "l2_regularization", "learning_rate_power",
)

_EPSILON = Setting("epsilon", 1e-7)
_BETAS = {"beta1": Setting("beta_1", 0.9), "beta2": Setting("beta_2", 0.999), "epsilon": _EPSILON}

OPTIMIZERS = {
    "adam": Optimizer("Adam", _BETAS),
    "adamax": Optimizer("Adamax", _BETAS),
    "nadam": Optimizer("Nadam", _BETAS),
    "adadelta": Optimizer("Adadelta", {"rho": Setting("rho", 0.95), "epsilon": _EPSILON}),
    "adagrad": Optimizer(
        "Adagrad",
        {"init_accumulator": Setting("initial_accumulator_value", 0.1), "epsilon": _EPSILON},
    ),
    "rms_prop": Optimizer(
        "RMSprop",
        {"rho": Setting("rho", 0.9), "momentum": Setting("momentum", 0.0), "epsilon": _EPSILON},
    ),
    "ftrl": Optimizer(
        "Ftrl",
        {
            "learning_rate_power": Setting("learning_rate_power", -0.5),
            "init_accumulator": Setting("initial_accumulator_value", 0.1),
            "l1_regularization": Setting("l1_regularization_strength", 0.0),
            "l2_regularization": Setting("l2_regularization_strength", 0.0),
        },
    ),
    # SGD with Nesterov momentum 0.9 unless another momentum is given.
    "momentum": Optimizer("SGD", {"momentum": Setting("momentum", 0.9)}, {"nesterov": True}),
    # Plain SGD unless a momentum is given (the earlier implementation always used 0.9).
    "sgd": Optimizer("SGD", {"momentum": Setting("momentum", 0.0)}),
}

NAMES = tuple(sorted(OPTIMIZERS))


def keras_arguments(name, given):
    """{Keras argument: value} for optimizer `name`; `given` maps setting names to values
    (None meaning the default)."""
    row = OPTIMIZERS[name]
    arguments = dict(row.fixed)
    for key, setting in row.settings.items():
        value = given.get(key)
        arguments[setting.argument] = setting.default if value is None else value
    return arguments


def unused_settings(name, given):
    """The settings in `given` (not None) that optimizer `name` does not take, in table order."""
    takes = OPTIMIZERS[name].settings
    return [key for key in SETTING_NAMES if given.get(key) is not None and key not in takes]
