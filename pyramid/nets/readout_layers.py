"""The readout layers a config may give (`layers`): one table of what sensenet can build.

Plain data and checks, without TensorFlow, so that the config is checked before any image
is read. Each layer type maps to its keys; each key says what it accepts and its default
(`REQUIRED` when it has none). The names come from sensenet 0.7.5's layer constructors
(`sensenet.layers.core`, `sensenet.layers.block`, `sensenet.layers.utils`); a test checks
this table against them. Adding a readout layer type is adding a row.

Readout weights are initializer names: trained readout weights come with `initial_model`.
`with_defaults` fills in the keys a layer leaves out, so the document pyramid writes is
complete.
"""

import math
from typing import Any, Callable, NamedTuple

REQUIRED = object()

# sensenet.layers.utils: "zeros" and "ones" are constants, the glorot ones are seeded.
INITIALIZERS = ("zeros", "ones", "glorot_uniform", "glorot_normal")
# sensenet's own (leaky_relu, mish, relu6), its identity spellings, and the tf-keras 2
# activations it passes through by name (sensenet-format.md 2.9).
ACTIVATIONS = (
    "linear", "identity", "relu", "relu6", "leaky_relu", "mish", "elu", "selu", "gelu",
    "tanh", "sigmoid", "hard_sigmoid", "softplus", "softsign", "swish", "exponential",
    "softmax",
)
LINEAR = ("linear", "identity", None)


class Key(NamedTuple):
    accepts: Callable[[Any], bool]
    text: str  # what is allowed, for the error message
    default: Any = REQUIRED


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _initializer(default):
    return Key(lambda v: v in INITIALIZERS, "one of " + ", ".join(INITIALIZERS), default)


def _activation(default="linear"):
    return Key(lambda v: v is None or v in ACTIVATIONS, "null or one of " + ", ".join(ACTIVATIONS), default)


_SEED = Key(lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31,
            "an integer from 0 to 2147483647", None)

LAYER_TYPES = {
    "dense": {
        "number_of_nodes": Key(
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65536,
            "an integer from 1 to 65536",
        ),
        "weights": _initializer("glorot_uniform"),
        "offset": _initializer("zeros"),
        "activation_function": _activation(),
        "seed": _SEED,
    },
    "activation": {"activation_function": _activation(REQUIRED)},
    "batch_normalization": {
        "epsilon": Key(lambda v: _is_number(v) and v > 0, "a number greater than 0", 1e-3),
        "gamma": _initializer("ones"),
        "beta": _initializer("zeros"),
        "mean": _initializer("zeros"),
        "variance": _initializer("ones"),
    },
    # sensenet's "block" dropout needs images, not the feature vector a readout gets.
    "dropout": {
        "dropout_type": Key(lambda v: v in ("zero", "alpha"), 'one of "zero", "alpha"'),
        "rate": Key(lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 up to but not including 1"),
    },
    "dense_residual_block": {
        "dense_path": Key(lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list of layers"),
        "identity_path": Key(lambda v: v == [], "[] (the identity)", []),
        "activation_function": _activation(),
    },
}
# Layers allowed inside a residual block's path: sensenet builds paths from simple layers.
PATH_TYPES = ("dense", "activation", "batch_normalization", "dropout")


class LayerError(ValueError):
    """A bad readout layer: `where` is its path under `layers`, the message says why."""

    def __init__(self, where, message):
        super().__init__(message)
        self.where = where


def check_layers(layers, where="layers", types=tuple(LAYER_TYPES)):
    """Raise LayerError for the first layer sensenet could not build (or would build
    otherwise than meant)."""
    for index, layer in enumerate(layers):
        here = "%s[%d]" % (where, index)
        if not isinstance(layer, dict):
            raise LayerError(here, "is not a layer object")
        kind = layer.get("type")
        if kind not in types:
            raise LayerError(here + ".type", "%s is not allowed; expected one of %s"
                             % (_json(kind), ", ".join(types)))
        keys = LAYER_TYPES[kind]
        for name, value in layer.items():
            if name == "type":
                continue
            if name not in keys:
                raise LayerError("%s.%s" % (here, name), "is not a key of a %s layer, which takes %s"
                                 % (kind, ", ".join(keys)))
            if not keys[name].accepts(value):
                raise LayerError("%s.%s" % (here, name), "%s is not allowed; expected %s"
                                 % (_json(value), keys[name].text))
        for name, key in keys.items():
            if key.default is REQUIRED and name not in layer:
                raise LayerError(here, "a %s layer needs the key %r (%s)" % (kind, name, key.text))
        if kind == "dense_residual_block":
            if index == len(layers) - 1:
                raise LayerError(here, "a dense_residual_block cannot be the last layer (sensenet "
                                 "needs a plain layer there)")
            check_layers(layer["dense_path"], here + ".dense_path", PATH_TYPES)


def output_width(layers):
    """The number of outputs of the readout, or None when no layer sets it (the image
    features pass through)."""
    width = None
    for layer in layers:
        if layer["type"] == "dense":
            width = layer["number_of_nodes"]
    return width


def final_activation(layers):
    """The activation applied last ("linear" for none): what the outputs are."""
    activation = "linear"
    for layer in layers:
        kind = layer["type"]
        if kind in ("dense", "activation", "dense_residual_block"):
            activation = layer.get("activation_function")
        elif kind == "batch_normalization":
            activation = "linear"
    return "linear" if activation in LINEAR else activation


def residual_width_problem(layers, input_width):
    """A message when a dense_residual_block's dense path does not keep its input's width
    (sensenet adds the two paths), or None. `input_width`: the image features' width."""
    width = input_width
    for index, layer in enumerate(layers):
        if layer["type"] == "dense_residual_block":
            inner = output_width(layer["dense_path"])
            if inner is not None and inner != width:
                return ("layers[%d]: the dense_path of this dense_residual_block gives %d outputs, "
                        "but its input has %d; they are added, so they must be equal"
                        % (index, inner, width))
        elif layer["type"] == "dense":
            width = layer["number_of_nodes"]
    return None


def with_defaults(layers):
    """Copies of `layers` with every key sensenet reads, defaults filled in."""
    complete = []
    for layer in layers:
        full = {"type": layer["type"]}
        for name, key in LAYER_TYPES[layer["type"]].items():
            value = layer.get(name, key.default)
            if name == "dense_path":
                value = with_defaults(value)
            if value is not None or name in layer:
                full[name] = value
        complete.append(full)
    return complete


def _json(value):
    import json

    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
