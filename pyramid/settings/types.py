"""What each setting accepts, defined once for every command and job document that has it.

Each type is `Annotated[python type, Field(constraints, description=...)]`: the constraint
and the "expected ..." text of its error message are built from the same numbers, so that
they cannot drift apart. Defaults are not here: pyramid_train's config and the worker's job
documents each declare theirs (and say why where they differ). `nullable(T)` is T or null.
"""

import math
import typing
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, ConfigDict, Field
from pydantic.fields import FieldInfo

from pyramid.augment import registry as augmentation_registry
from pyramid.train import loss_settings, optimizer_settings

MAX_SEED = 2**31 - 1
RESCALE_TYPES = ("warp", "pad", "crop")
LOSSES = loss_settings.names("categorical") + loss_settings.names("numeric")

# strict: 1.0 is not an int, true is not an int, "5" is not a number.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def integer(lo, hi=None):
    text = "an integer from %d to %d" % (lo, hi) if hi is not None else "an integer >= %d" % lo
    return Annotated[int, Field(ge=lo, le=hi, description=text)]


def number(gt=None, ge=None, lt=None, le=None):
    if gt is not None:
        text = "a number greater than %g" % gt
    elif le is not None:
        text = "a number from %g to %g" % (ge, le)
    elif lt is not None:
        text = "a number from %g up to but not including %g" % (ge, lt)
    else:
        text = "a number >= %g" % ge
    return Annotated[float, Field(gt=gt, ge=ge, lt=lt, le=le, description=text)]


def one_of(names):
    return Annotated[typing.Literal[tuple(names)], Field(description="one of " + ", ".join(names))]


def described(python_type, text, **constraints):
    return Annotated[python_type, Field(description=text, **constraints)]


def nullable(annotated):
    """`annotated` or null, with the same constraints and ", or null" in its description."""
    python_type, *metadata = typing.get_args(annotated)
    field = next(item for item in metadata if isinstance(item, FieldInfo))
    others = [item for item in metadata if not isinstance(item, FieldInfo)]
    constraints = {key: getattr(field, key) for key in ("min_length", "max_length")
                   if getattr(field, key, None) is not None}
    text = "true, false or null" if python_type is bool else field.description + ", or null"
    field = FieldInfo.merge_field_infos(field, Field(description=text, **constraints))
    return Annotated[(Optional[python_type], field, *others)]


def description(annotated):
    return next(item for item in typing.get_args(annotated)[1:] if isinstance(item, FieldInfo)).description


def is_number(value):
    """JSON numbers that fit a float: bool is a subclass of int in Python, NaN/Infinity are
    not JSON, and a 400-digit integer cannot be trained on."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# Values of several JSON types are checked by plain validators rather than pydantic unions,
# whose errors would come once per union member.


def _check_label(value):
    if isinstance(value, str) or is_number(value):
        return value
    raise ValueError("not a string or a finite number")


def _check_layer(layer):
    if not isinstance(layer.get("type"), str):
        raise ValueError('no string "type"')
    return layer


def _check_image_shape(shape):
    if not (len(shape) == 3 and 8 <= shape[0] <= 4096 and 8 <= shape[1] <= 4096
            and shape[2] == 3):
        raise ValueError("not [width, height, 3]")
    return shape


Label = Annotated[Any, AfterValidator(_check_label)]
Layer = Annotated[dict[str, Any], AfterValidator(_check_layer)]
Pair = Annotated[list[str], Field(min_length=2, max_length=2)]
Anchor = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]

# --------------------------------------------------------------------------------------------
# The settings both pyramid_train's config and the worker's job documents have.

BatchSize = integer(1, 8192)
Boolean = described(bool, "true or false")
DescentAlgorithm = one_of(optimizer_settings.NAMES)
LearningRate = number(gt=0)
WarmupIterations = integer(0)
HoldoutSetSize = integer(1, 8192)
HoldoutRate = number(gt=0, le=0.5)
LossFunction = one_of(LOSSES)
MaxDataSize = integer(0)
RescaleType = one_of(RESCALE_TYPES)
Patience = integer(1, 8192)
SecondsPerUpdate = number(gt=0)
Seed = integer(0, MAX_SEED)
LabelSmoothing = number(ge=0, le=0.5)
WeightAveraging = number(ge=0, lt=1)
MaxIterations = integer(1)
Layers = described(list[Layer], 'a non-empty list of layer objects, each with a string "type"',
                   min_length=1)
ImageShape = described(Annotated[list[int], AfterValidator(_check_image_shape)],
                       "[width, height, 3] with width and height integers from 8 to 4096")
OutputDirectory = described(str, "a non-empty string (a directory path)", min_length=1)
ImageRoot = described(str, "a string (the directory of the images)")
InitialModel = described(str, "a non-empty string (a final_model.json path)", min_length=1)
Anchors = described(list[Anchor], "a list of [width, height] pairs of positive integers")
ImageAugmentations = described(
    list[str], "a list of augmentation names: " + ", ".join(augmentation_registry.NAMES)
)
AugmentationRanges = described(
    dict[str, Any], "an object mapping augmentation names to a number, true/false or null"
)

# Optimizer hyper-parameters (which optimizer takes which: pyramid.train.optimizer_settings).
OPTIMIZER_SETTINGS = {
    "beta1": number(ge=0, lt=1),
    "beta2": number(ge=0, lt=1),
    "epsilon": number(gt=0),
    "momentum": number(ge=0, le=1),
    "rho": number(ge=0, le=1),
    "init_accumulator": number(ge=0),
    "l1_regularization": number(ge=0),
    "l2_regularization": number(ge=0),
    "learning_rate_power": number(ge=-1, le=0),
}
assert tuple(OPTIMIZER_SETTINGS) == optimizer_settings.SETTING_NAMES
