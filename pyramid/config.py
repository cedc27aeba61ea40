"""The pyramid_train config: read a JSON file, check every key, fill in the defaults.

Types and ranges of single keys are declared once, as pydantic Field constraints on
`TrainConfig` below; rules that involve several keys (or the file system) are the small
`_check_*` functions after it.  Every problem is raised as a one-line `ConfigError` that names
the key (with the index of the bad training point or candidate), shows the bad value and says
what is allowed; pydantic's own multi-line text never reaches the user.

Object detection configs (points with `boxes`) are checked here like the others, including
the keys that do not apply to detection. Pretrained weights and initial models are accepted:
their files are checked here (initial models) and before training (`pyramid.nets.pretrained`).

Optimizer settings come from `pyramid.train.optimizer_settings`, loss names from
`pyramid.train.loss_settings`, readout layer types from `pyramid.nets.readout_layers`: tables
without TensorFlow that the training code reads as well.

Augmentation names, aliases, defaults and ranges come from `pyramid.data.augmentation_settings`,
which the augmentation code reads as well.

This module must not import TensorFlow: config errors are reported before TensorFlow loads.
"""

import difflib
import json
import math
import os
import typing
from functools import cached_property
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from pyramid.data import augmentation_settings
from pyramid.errors import ConfigError
from pyramid.nets import readout_layers
from pyramid.train import loss_settings, optimizer_settings

__all__ = ["TrainConfig", "load_train_config", "validate_train_config"]

DESCENT_ALGORITHMS = optimizer_settings.NAMES
CATEGORICAL_LOSSES = loss_settings.names("categorical")
NUMERIC_LOSSES = loss_settings.names("numeric")
LOSSES = {"categorical": CATEGORICAL_LOSSES, "numeric": NUMERIC_LOSSES}
DEFAULT_LOSS = loss_settings.DEFAULT
LABEL_KINDS = {"categorical": "strings (categorical)", "numeric": "numbers (numeric)"}
RESCALE_TYPES = ("warp", "pad", "crop")

# Topologies without pretrained weights: they can only be randomly initialized.
SCRATCH_TOPOLOGIES = ("simple", "simple_residual")
TOPOLOGIES = SCRATCH_TOPOLOGIES + ("mobilenet", "mobilenetv2", "resnet18")
DETECTION_TOPOLOGIES = ("tinyyolov4", "yolov4")
PRETRAINED_METHODS = ("fine_tune", "use_pretrained")
TRAINING_METHODS = ("randomly_initialize",) + PRETRAINED_METHODS
INITIAL_MODEL = "initial_model"
# "auto": the fastest the hardware runs well (see pyramid.train.devices).
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# YOLO networks: their branches (3 anchors each); sensenet needs a square input, and the
# coarsest branch's grid must divide it.
YOLO_BRANCHES = {"tinyyolov4": 2, "yolov4": 3}
ANCHORS_PER_BRANCH = 3
YOLO_INPUT_MULTIPLE = 32
DETECTION = "bounding_box"
# The objectives' names (`pyramid.objectives.OBJECTIVES`, which imports more than the config
# may before reporting an error; a test keeps the two equal).
OBJECTIVE_TYPES = ("categorical", "numeric", DETECTION)

# Re-exported from augmentation_settings, the one place that defines them.  The product
# README spells the flips "flip_horizontal" / "flip_vertical"; both spellings are accepted.
AUGMENTATIONS = augmentation_settings.NAMES
AUGMENTATION_ALIASES = augmentation_settings.ALIASES

MAX_SEED = 2**31 - 1
MAX_SHOWN = 60  # longest bad value quoted in a message

# --------------------------------------------------------------------------------------------
# Field helpers: each builds the pydantic constraint and the "expected ..." text of its
# error message from the same numbers, so that the two cannot drift apart.


def _or_null(text, nullable):
    return text + ", or null" if nullable else text


def _integer(default=..., lo=None, hi=None, nullable=False):
    if hi is not None:
        text = "an integer from %d to %d" % (lo, hi)
    else:
        text = "an integer >= %d" % lo
    return Field(default, ge=lo, le=hi, description=_or_null(text, nullable))


def _number(default=..., gt=None, ge=None, lt=None, le=None, nullable=False):
    if gt is not None:
        text = "a number greater than %g" % gt
    elif le is not None:
        text = "a number from %g to %g" % (ge, le)
    elif lt is not None:
        text = "a number from %g up to but not including %g" % (ge, lt)
    else:
        text = "a number >= %g" % ge
    return Field(default, gt=gt, ge=ge, lt=lt, le=le, description=_or_null(text, nullable))


def _one_of(default, names, nullable=False):
    return Field(default, description=_or_null("one of " + ", ".join(names), nullable))


def _described(default=..., text="", **constraints):
    return Field(default, description=text, **constraints)


# Labels accept several JSON types.  They are checked by a plain validator rather than a
# pydantic union, whose errors would come once per union member.  (Augmentation parameters
# depend on the augmentation's name, so `_check_augmentations` checks them.)


def _check_label(value):
    if isinstance(value, str) or _is_number(value):
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


def _is_number(value):
    # JSON numbers that fit a float: bool is a subclass of int in Python, NaN/Infinity are
    # not JSON, and a 400-digit integer cannot be trained on.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


Label = Annotated[Any, AfterValidator(_check_label)]
Layer = Annotated[dict[str, Any], AfterValidator(_check_layer)]
Pair = Annotated[list[str], Field(min_length=2, max_length=2)]
Anchor = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]

# strict: 1.0 is not an int, true is not an int, "5" is not a number.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class TrainingPoint(BaseModel):
    """One element of `training_data`."""

    model_config = STRICT

    file: str = _described(text="a non-empty string (a path under image_root)", min_length=1)
    # None means absent (an explicit null fails the validator: defaults are not validated);
    # a point without a label is only fine with `boxes` (object detection).
    label: Label = _described(None, "a string (categorical) or a number (numeric)")
    weight: float = _number(1.0, gt=0)
    boxes: Optional[list[Any]] = _described(None, 'a list of [x1, y1, x2, y2, "label"] boxes')


class TrainConfig(BaseModel):
    """A validated pyramid_train config: every key with its default applied.

    Built only by `validate_train_config` / `load_train_config`, which also fill in
    `objective_type` and `loss_function` from the labels and make `image_root` and
    `output_directory` absolute.  Frozen: a changed config must be validated again.
    """

    model_config = STRICT

    # Required keys.
    training_data: list[TrainingPoint] = _described(
        text="a non-empty list of training points, objects with keys file, label and weight",
        min_length=1,
    )
    image_root: str = _described(text="a string (the directory of the images)")
    input_image_shape: Annotated[list[int], AfterValidator(_check_image_shape)] = _described(
        text="[width, height, 3] with width and height integers from 8 to 4096"
    )
    output_directory: str = _described(text="a non-empty string (a directory path)", min_length=1)
    image_network_candidates: list[Pair] = _described(
        text="a non-empty list of [topology, method] pairs of strings", min_length=1
    )
    max_total_time: float = _number(gt=0)

    # Optional keys.
    batch_size: int = _integer(32, 1, 8192)
    balance_objective: bool = _described(False, "true or false")
    descent_algorithm: Literal[DESCENT_ALGORITHMS] = _one_of("adam", DESCENT_ALGORITHMS)
    learning_rate: float = _number(0.001, gt=0)
    learning_rate_warmup_iterations: int = _integer(0, 0)
    holdout_set_size: int = _integer(4096, 1, 8192)
    # None until validation fills in the default for the objective.
    loss_function: Optional[Literal[CATEGORICAL_LOSSES + NUMERIC_LOSSES]] = _one_of(
        None, CATEGORICAL_LOSSES + NUMERIC_LOSSES, nullable=True
    )
    max_data_size: int = _integer(1073741824, 0)
    rescale_type: Literal[RESCALE_TYPES] = _one_of("crop", RESCALE_TYPES)
    patience: int = _integer(10, 1, 8192)
    max_seconds_per_update: float = _number(16.0, gt=0)
    seed: int = _integer(42, 0, MAX_SEED)
    label_smoothing_factor: float = _number(0.0, ge=0, le=0.5)
    cheat_on_validation: bool = _described(False, "true or false")
    max_iterations: Optional[int] = _integer(None, 1, nullable=True)
    layers: Optional[list[Layer]] = _described(
        None, 'null or a non-empty list of layer objects, each with a string "type"', min_length=1
    )
    # None until validation fills it in from the labels.
    objective_type: Optional[Literal[OBJECTIVE_TYPES]] = _one_of(None, OBJECTIVE_TYPES, nullable=True)
    augmentation_seed: Optional[int] = _integer(None, 0, MAX_SEED, nullable=True)

    # Optimizer hyper-parameters; null means the optimizer's own default.
    beta1: Optional[float] = _number(None, ge=0, lt=1, nullable=True)
    beta2: Optional[float] = _number(None, ge=0, lt=1, nullable=True)
    epsilon: Optional[float] = _number(None, gt=0, nullable=True)
    momentum: Optional[float] = _number(None, ge=0, le=1, nullable=True)
    rho: Optional[float] = _number(None, ge=0, le=1, nullable=True)
    init_accumulator: Optional[float] = _number(None, ge=0, nullable=True)
    l1_regularization: Optional[float] = _number(None, ge=0, nullable=True)
    l2_regularization: Optional[float] = _number(None, ge=0, nullable=True)
    learning_rate_power: Optional[float] = _number(None, ge=-1, le=0, nullable=True)

    # Augmentations: names and parameters are checked by `_check_augmentations`, and the
    # `augmentations` property below says which ones are active, with which parameter.
    image_augmentations: list[str] = _described(
        [], "a list of augmentation names: " + ", ".join(AUGMENTATIONS)
    )
    augmentation_ranges: dict[str, Any] = _described(
        {}, "an object mapping augmentation names to a number, true/false or null"
    )

    # Precision, pretrained weights and initial models.
    precision: Literal[PRECISIONS] = _one_of("auto", PRECISIONS)
    pretrained_weights_directory: Optional[str] = _described(
        None, "null or a non-empty string (a directory of <network>_weights_<version>.h5 files)",
        min_length=1,
    )
    initial_model: Optional[str] = _described(
        None, "null or a non-empty string (a final_model.json path)", min_length=1
    )
    # Object detection keys (see `_check_detection_keys`).
    bounding_box_anchors: Optional[list[Anchor]] = _described(
        None, "null or a list of [width, height] pairs of positive integers"
    )
    strict_boxes: Optional[bool] = _described(None, "true, false or null")

    # Derived values.  Cached because training reads them per point; `model_copy` below drops
    # the cache so a copy never carries values computed from the old fields.

    @cached_property
    def classes(self):
        """Sorted distinct string labels (of the boxes, for detection), or None for a numeric
        objective."""
        if self.objective_type == DETECTION:
            return sorted({box[4] for point in self.training_data for box in point.boxes})
        if self.objective_type != "categorical":
            return None
        return sorted({point.label for point in self.training_data})

    @cached_property
    def labels(self):
        """Labels in training_data order: strings, floats for a numeric objective, or each
        point's boxes (lists of [x1, y1, x2, y2, label]) for object detection."""
        if self.objective_type == DETECTION:
            return [[list(box) for box in point.boxes] for point in self.training_data]
        if self.objective_type == "numeric":
            return [float(point.label) for point in self.training_data]
        return [point.label for point in self.training_data]

    @cached_property
    def weights(self):
        return [point.weight for point in self.training_data]

    @cached_property
    def image_paths(self):
        return [os.path.join(self.image_root, point.file) for point in self.training_data]

    @cached_property
    def augmentations(self):
        """{name: n} of the active augmentations, canonical names (no aliases), n a float:
        `augmentation_ranges` if given, else `image_augmentations` with default parameters."""
        return augmentation_settings.active_parameters(
            self.image_augmentations, self.augmentation_ranges
        )

    @property
    def image_shape_hw(self):
        width, height, _ = self.input_image_shape
        return (height, width)

    @property
    def candidates(self):
        """(topology, method) pairs; ("initial_model", path) for trained models, the
        top-level `initial_model` last unless it is among the candidates already."""
        pairs = [tuple(pair) for pair in self.image_network_candidates]
        extra = (INITIAL_MODEL, self.initial_model)
        if self.initial_model is not None and extra not in pairs:
            pairs.append(extra)
        return pairs

    @property
    def loss(self):
        return self.loss_function

    def model_copy(self, *, update=None, deep=False):
        copy = super().model_copy(update=update, deep=deep)
        for name in ("classes", "labels", "weights", "image_paths", "augmentations"):
            copy.__dict__.pop(name, None)
        return copy


# --------------------------------------------------------------------------------------------
# Public entry points.


def load_train_config(path):
    """Read the JSON config at `path` and validate it; relative paths in it resolve against
    the directory of the config file.  Raises ConfigError."""
    path = os.fspath(path)
    shown = _quote(path, limit=None)
    try:
        with open(path, encoding="utf-8-sig") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError("config file %s does not exist" % shown) from None
    except IsADirectoryError:
        raise ConfigError("config file %s is a directory, not a JSON file" % shown) from None
    except UnicodeDecodeError as error:
        raise ConfigError("config file %s is not UTF-8 text: %s" % (shown, error)) from None
    except OSError as error:
        raise ConfigError("cannot read config file %s: %s" % (shown, error.strerror)) from None

    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ConfigError(
            "config file %s is not valid JSON: %s at line %d, column %d"
            % (shown, error.msg, error.lineno, error.colno)
        ) from None
    except _DuplicateKey as error:
        raise ConfigError("config file %s is not valid: %s" % (shown, error)) from None

    if not isinstance(data, dict):
        raise ConfigError(
            "config file %s must hold a JSON object ({...}), not %s" % (shown, _json_type(data))
        )
    return validate_train_config(data, base_dir=os.path.dirname(os.path.abspath(path)))


def validate_train_config(data, base_dir=None):
    """Validate a config dict; relative image_root / output_directory resolve against
    `base_dir` (default: the current directory).  Raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a JSON object ({...}), not %s" % _json_type(data))
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as error:
        # `from None`: pydantic's multi-line report must not reach the user, even with --debug.
        raise ConfigError(_translate(error, data)) from None

    objective = _check_boxes(config) or _check_labels(config)
    _check_detection_keys(config, objective)
    loss = _check_loss(config, objective)
    _check_label_smoothing(config, objective)
    _check_readout_layers(config, objective, loss)
    _check_candidates(config, objective)
    _check_optimizer_settings(config)
    _check_augmentations(config)
    base_dir = os.path.abspath(base_dir if base_dir is not None else os.getcwd())
    image_root = _check_image_root(config, base_dir)
    output_directory = _check_output_directory(config, base_dir)
    _check_image_files(config, image_root)
    candidates, initial_model = _resolve_initial_models(config, base_dir)
    weights_directory = config.pretrained_weights_directory
    if weights_directory is not None:
        weights_directory = os.path.abspath(os.path.join(base_dir, weights_directory))

    return config.model_copy(
        update={
            "objective_type": objective,
            "loss_function": loss,
            # sensenet rescales every image with pad for a detector.
            "rescale_type": "pad" if objective == DETECTION else config.rescale_type,
            "image_root": image_root,
            "output_directory": output_directory,
            "image_network_candidates": candidates,
            "initial_model": initial_model,
            "pretrained_weights_directory": weights_directory,
        }
    )


# --------------------------------------------------------------------------------------------
# Cross-field checks, in the order a user would want to hear about them: what kind of problem
# this is, then labels, losses, candidates, augmentations, and the file system last.


def _check_boxes(config):
    """"bounding_box" when the points carry boxes (each checked), else None."""
    with_boxes = [index for index, point in enumerate(config.training_data) if point.boxes is not None]
    if not with_boxes and config.objective_type != DETECTION:
        return None
    first = with_boxes[0] if with_boxes else None
    for index, point in enumerate(config.training_data):
        key = "training_data[%d]" % index
        if point.boxes is not None and point.label is not None:
            raise ConfigError(
                '%s: a point has "label" (classification, regression) or "boxes" (object '
                "detection), not both" % key
            )
        if point.boxes is None and point.label is not None and first is not None:
            raise ConfigError(
                '%s: has "label", but training_data[%d] has "boxes"; the points of one problem '
                "all have labels (classification, regression) or all boxes (object detection)"
                % (key, first)
            )
        if point.boxes is None:
            where = "training_data[%d] has boxes" % first if first is not None else 'objective_type is "bounding_box"'
            raise ConfigError(
                '%s: missing required key "boxes" (%s: every point of an object detection '
                "problem needs them, [] for an image without objects)" % (key, where)
            )
        for number, box in enumerate(point.boxes):
            _check_box("%s.boxes[%d]" % (key, number), box)
    declared = config.objective_type
    if declared is not None and declared != DETECTION:
        raise ConfigError(
            'objective_type: %s does not match the training points, which have boxes; use '
            '"bounding_box" or remove the key' % _show(declared)
        )
    if not any(point.boxes for point in config.training_data):
        raise ConfigError("training_data: no point has a box; object detection needs at least one")
    return DETECTION


def _check_box(key, box):
    """[x1, y1, x2, y2, "label"] in the image's pixels, x2 > x1 and y2 > y1."""
    if not (isinstance(box, list) and len(box) == 5):
        raise ConfigError('%s: %s is not allowed; expected [x1, y1, x2, y2, "label"]' % (key, _show(box)))
    for position, name in enumerate(("x1", "y1", "x2", "y2")):
        if not _is_number(box[position]):
            raise ConfigError(
                "%s[%d]: %s is not allowed; expected a number (%s, in the image's pixels)"
                % (key, position, _show(box[position]), name)
            )
    if not (isinstance(box[4], str) and box[4]):
        raise ConfigError("%s[4]: %s is not allowed; expected a non-empty string (the object's "
                          "label)" % (key, _show(box[4])))
    for low, high, names in ((0, 2, ("x1", "x2")), (1, 3, ("y1", "y2"))):
        if not box[high] > box[low]:
            raise ConfigError(
                "%s: %s is not allowed; %s (%s) must be greater than %s (%s)"
                % (key, _show(box), names[1], _show(box[high]), names[0], _show(box[low]))
            )


def _check_detection_keys(config, objective):
    """The keys of object detection only with boxes; with boxes, the keys that do not apply
    refused with why, the input shape and anchors YOLO needs."""
    if objective != DETECTION:
        for key in ("bounding_box_anchors", "strict_boxes"):
            if getattr(config, key) is not None:
                raise ConfigError(
                    "%s: %s is not allowed; it is for object detection, and the training points "
                    "have labels, not boxes" % (key, _show(getattr(config, key)))
                )
        return

    given = config.model_fields_set
    not_applying = (
        ("loss_function", "loss_function" in given and config.loss_function is not None,
         "the loss of object detection is YOLO's own (box CIoU, objectness and class "
         "cross-entropy)"),
        ("rescale_type", config.rescale_type != "pad" and "rescale_type" in given,
         'sensenet rescales every image of a detector with "pad"'),
        ("layers", config.layers is not None,
         "a YOLO network has no readout layers; its heads are sized for the classes"),
        ("balance_objective", config.balance_objective,
         "images hold several objects of several classes, so batches cannot balance them"),
    )
    for key, given_here, why in not_applying:
        if given_here:
            raise ConfigError(
                "%s: %s is not allowed for object detection: %s; remove the key"
                % (key, _show(getattr(config, key)), why)
            )

    width, height, _ = config.input_image_shape
    if width != height or width % YOLO_INPUT_MULTIPLE:
        raise ConfigError(
            "input_image_shape: %s is not allowed for object detection; YOLO needs a square "
            "input whose side is a multiple of %d (sensenet's grids), e.g. [%d, %d, 3]"
            % (_show(config.input_image_shape), YOLO_INPUT_MULTIPLE,
               _nearest_multiple(max(width, height)), _nearest_multiple(max(width, height)))
        )
    anchors = config.bounding_box_anchors
    if anchors is not None:
        for index, (topology, _) in enumerate(config.image_network_candidates):
            needed = YOLO_BRANCHES.get(topology, 0) * ANCHORS_PER_BRANCH
            if needed and len(anchors) != needed:
                raise ConfigError(
                    "bounding_box_anchors: %d anchors are not allowed with "
                    "image_network_candidates[%d] (%s), which needs %d (%d per branch)"
                    % (len(anchors), index, topology, needed, ANCHORS_PER_BRANCH)
                )


def _nearest_multiple(size):
    return max(YOLO_INPUT_MULTIPLE, int(round(size / YOLO_INPUT_MULTIPLE)) * YOLO_INPUT_MULTIPLE)


def _check_labels(config):
    """Return the objective ("categorical" or "numeric") that the labels imply."""
    objective = None
    for index, point in enumerate(config.training_data):
        if point.label is None:
            raise ConfigError('training_data[%d]: missing required key "label"' % index)
        kind = "categorical" if isinstance(point.label, str) else "numeric"
        if objective is None:
            objective = kind
        elif kind != objective:
            earlier = "training_data[0]" if index == 1 else "training_data[0..%d]" % (index - 1)
            raise ConfigError(
                "training_data[%d].label: %s is %s, but the labels of %s are %s; "
                "all labels must be strings (categorical) or all numbers (numeric)"
                % (index, _show(point.label), _a_kind(kind), earlier, LABEL_KINDS[objective])
            )

    declared = config.objective_type
    if declared is not None and declared != objective:
        raise ConfigError(
            'objective_type: %s does not match the labels, which are %s; use "%s" or remove '
            "the key" % (_show(declared), LABEL_KINDS[objective], objective)
        )

    if objective == "categorical":
        classes = {point.label for point in config.training_data}
        if len(classes) < 2:
            raise ConfigError(
                "training_data: every label is %s; a categorical objective needs at least "
                "2 distinct classes" % _show(classes.pop())
            )
    return objective


def _a_kind(kind):
    return "a string" if kind == "categorical" else "a number"


def _check_loss(config, objective):
    loss = config.loss_function
    if objective == DETECTION:
        return None  # YOLO's own (checked by _check_detection_keys)
    if loss is None:
        return DEFAULT_LOSS[objective]
    if loss not in LOSSES[objective]:
        other = "numeric" if objective == "categorical" else "categorical"
        raise ConfigError(
            "loss_function: %s is for %s objectives, but the labels are %s; use one of %s"
            % (_show(loss), other, LABEL_KINDS[objective], ", ".join(LOSSES[objective]))
        )
    return loss


def _check_label_smoothing(config, objective):
    # Smoothing spreads probability over classes; a numeric objective has none.
    if objective == "numeric" and config.label_smoothing_factor != 0:
        raise ConfigError(
            "label_smoothing_factor: %s is not allowed for numeric objectives (the labels are "
            "numbers); use 0 or remove the key" % _show(config.label_smoothing_factor)
        )


def _check_readout_layers(config, objective, loss):
    """What sensenet can build, with as many outputs as the objective needs, ending in the
    activation the loss needs (`loss_settings`)."""
    layers = config.layers
    if layers is None or objective == DETECTION:
        return
    try:
        readout_layers.check_layers(layers)
    except readout_layers.LayerError as error:
        raise ConfigError("%s: %s" % (error.where, error)) from None

    if objective == "categorical":
        needed, what = len({point.label for point in config.training_data}), "one per class"
    else:
        needed, what = 1, "a numeric objective has one"
    width = readout_layers.output_width(layers)
    if width is None:
        raise ConfigError(
            "layers: no dense layer sets the number of outputs; the objective needs %d (%s), "
            "so add a dense layer with number_of_nodes %d" % (needed, what, needed)
        )
    if width != needed:
        last = max(i for i, layer in enumerate(layers) if layer["type"] == "dense")
        raise ConfigError(
            "layers[%d].number_of_nodes: %d is not allowed; the last dense layer gives the "
            "outputs, and the objective needs %d (%s)" % (last, width, needed, what)
        )
    activation = readout_layers.final_activation(layers)
    wanted = loss_settings.LOSSES[loss].output_activation
    if activation != wanted:
        raise ConfigError(
            'layers: the readout ends with the activation "%s", but loss_function "%s" needs '
            '"%s" outputs; give the last dense layer "activation_function": "%s"'
            % (activation, loss, wanted, wanted)
        )


def _check_candidates(config, objective):
    seen = {}
    for index, (topology, method) in enumerate(config.image_network_candidates):
        key = "image_network_candidates[%d]" % index
        if topology in TOPOLOGIES and objective == DETECTION:
            raise ConfigError(
                '%s[0]: "%s" is a classification network, but the training points have boxes; '
                "object detection uses one of %s" % (key, topology, ", ".join(DETECTION_TOPOLOGIES))
            )
        if topology in DETECTION_TOPOLOGIES and objective != DETECTION:
            raise ConfigError(
                '%s[0]: "%s" is an object detection network, but the training points have '
                'labels; give them "boxes" instead, or use one of %s'
                % (key, topology, ", ".join(TOPOLOGIES))
            )
        if topology == INITIAL_MODEL:
            if not method:
                raise ConfigError(
                    '%s[1]: "" is not allowed; expected the path of a final_model.json' % key
                )
        elif topology not in TOPOLOGIES + DETECTION_TOPOLOGIES:
            raise ConfigError(
                "%s[0]: %s is not allowed;%s expected one of %s, or \"%s\" followed by a path"
                % (
                    key,
                    _show(topology),
                    _did_you_mean(topology, TOPOLOGIES + DETECTION_TOPOLOGIES + (INITIAL_MODEL,)),
                    ", ".join(TOPOLOGIES + DETECTION_TOPOLOGIES),
                    INITIAL_MODEL,
                )
            )
        elif method not in TRAINING_METHODS:
            raise ConfigError(
                "%s[1]: %s is not allowed;%s expected one of %s"
                % (key, _show(method), _did_you_mean(method, TRAINING_METHODS),
                   ", ".join(TRAINING_METHODS))
            )
        elif topology in SCRATCH_TOPOLOGIES and method in PRETRAINED_METHODS:
            raise ConfigError(
                '%s: %s is not allowed; no pretrained weights exist for %s, so its method must '
                'be "randomly_initialize"' % (key, _show([topology, method]), topology)
            )

        pair = (topology, method)
        if pair in seen:
            raise ConfigError(
                "%s: %s repeats image_network_candidates[%d]; each candidate may appear once"
                % (key, _show(list(pair)), seen[pair])
            )
        seen[pair] = index


def _check_optimizer_settings(config):
    """A setting the chosen optimizer does not use would be silently ignored: refuse it."""
    name = config.descent_algorithm
    given = {key: getattr(config, key) for key in optimizer_settings.SETTING_NAMES}
    unused = optimizer_settings.unused_settings(name, given)
    if unused:
        takes = ", ".join(optimizer_settings.OPTIMIZERS[name].settings)
        raise ConfigError(
            '%s: %s is not used by descent_algorithm "%s", which takes %s; remove the key or '
            "choose another descent_algorithm" % (unused[0], _show(given[unused[0]]), name, takes)
        )


def _check_augmentations(config):
    """Names in both keys (even the list that `augmentation_ranges` overrides), each
    augmentation at most once per key, and the parameters in `augmentation_ranges`."""
    seen = {}  # canonical name: (where, spelling) of its first appearance in the list
    for index, name in enumerate(config.image_augmentations):
        key = "image_augmentations[%d]" % index
        canonical = _augmentation_name(key, name)
        if canonical in seen:
            raise _repeated_augmentation(key, name, *seen[canonical])
        seen[canonical] = ("image_augmentations[%d] " % index, name)

    seen = {}
    for name, value in config.augmentation_ranges.items():
        canonical = _augmentation_name("augmentation_ranges", name)
        if canonical in seen:
            raise _repeated_augmentation("augmentation_ranges", name, *seen[canonical])
        seen[canonical] = ("", name)
        # Boolean augmentations take any value, only its truthiness counts.
        if canonical in augmentation_settings.NUMERIC and value is not None:
            largest = augmentation_settings.NUMERIC[canonical][1]
            if not (_is_number(value) and 0 <= value <= largest):
                raise ConfigError(
                    "%s: %s is not allowed; expected a number from 0 to %g or null"
                    % (_path(["augmentation_ranges", name]), _show(value), largest)
                )


def _augmentation_name(key, name):
    """The canonical name of a known augmentation name or alias; else a ConfigError."""
    known = AUGMENTATIONS + tuple(AUGMENTATION_ALIASES)
    if name not in known:
        raise ConfigError(
            "%s: unknown augmentation %s;%s expected one of %s"
            % (key, _show(name), _did_you_mean(name, known), ", ".join(AUGMENTATIONS))
        )
    return AUGMENTATION_ALIASES.get(name, name)


def _repeated_augmentation(key, name, first_where, first_name):
    same = "" if name == first_name else " (the same augmentation)"
    return ConfigError(
        "%s: %s repeats %s%s%s; each augmentation may appear once"
        % (key, _show(name), first_where, _show(first_name), same)
    )


def _check_image_root(config, base_dir):
    image_root = os.path.abspath(os.path.join(base_dir, config.image_root))
    if not os.path.isdir(image_root):
        raise ConfigError(
            "image_root: %s is not an existing directory (looked for %s)"
            % (_show(config.image_root), _quote(image_root, limit=None))
        )
    return image_root


def _check_output_directory(config, base_dir):
    # Created by training; only a file standing in its way can be caught now.
    output_directory = os.path.abspath(os.path.join(base_dir, config.output_directory))
    if os.path.exists(output_directory) and not os.path.isdir(output_directory):
        raise ConfigError(
            "output_directory: %s exists and is not a directory (%s)"
            % (_show(config.output_directory), _quote(output_directory, limit=None))
        )
    return output_directory


def _resolve_initial_models(config, base_dir):
    """Absolute paths of the trained models to start from; each must be an existing file."""

    def resolve(key, path):
        full = os.path.abspath(os.path.join(base_dir, path))
        if not os.path.isfile(full):
            raise ConfigError(
                "%s: %s is not an existing file (expected a final_model.json written by "
                "pyramid_train)" % (key, _show(path))
            )
        return full

    candidates = []
    for index, (topology, method) in enumerate(config.image_network_candidates):
        if topology == INITIAL_MODEL:
            method = resolve("image_network_candidates[%d][1]" % index, method)
        candidates.append([topology, method])
    initial_model = config.initial_model
    if initial_model is not None:
        initial_model = resolve("initial_model", initial_model)
    return candidates, initial_model


def _check_image_files(config, image_root):
    # Existence only: decoding the images is the data reader's job.
    for index, point in enumerate(config.training_data):
        if not os.path.isfile(os.path.join(image_root, point.file)):
            raise ConfigError(
                "training_data[%d].file: %s is not an existing file in image_root %s"
                % (index, _show(point.file), _quote(image_root, limit=None))
            )


# --------------------------------------------------------------------------------------------
# Translating pydantic's errors into one line.

_MODELS = {"training_data": TrainingPoint}  # list keys whose elements are models


def _translate(error, data):
    """The message for the first error, preferring unknown keys: a misspelt required key
    shows up both as unknown and as missing, and the misspelling is the useful half."""
    details = error.errors()
    first = min(details, key=lambda detail: detail["type"] != "extra_forbidden")
    loc = first["loc"]
    where, model = _model_at(loc[:-1])

    if first["type"] == "extra_forbidden":
        name = str(loc[-1])
        hint = _did_you_mean(name, tuple(model.model_fields))
        if not hint and model is TrainingPoint:
            hint = " allowed keys are %s" % ", ".join(model.model_fields)
        elif not hint:
            hint = " it is not a pyramid_train config key"
        return _prefixed(where, "unknown key %s;%s" % (_quote(name), hint))
    if first["type"] == "missing":
        return _prefixed(where, "missing required key %s" % _quote(str(loc[-1])))

    walked, value = _walk(data, loc)
    field = _field_at(walked)
    expected = field.description if field is not None else "a valid value"
    hint = ""
    if isinstance(value, str) and field is not None:
        hint = _did_you_mean(value, _literal_choices(field.annotation))
    return "%s: %s is not allowed;%s expected %s" % (_path(walked), _show(value), hint, expected)


def _model_at(loc):
    """The display path of a dict-valued location and the model that describes it."""
    if len(loc) == 2 and loc[0] in _MODELS:
        return _path(loc), _MODELS[loc[0]]
    return _path(loc), TrainConfig


def _walk(data, loc):
    """Follow `loc` into the raw data as far as it goes; return the path and the value."""
    walked, value = [], data
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            break
        walked.append(part)
    return walked, value


def _field_at(walked):
    """The deepest model field on the path: its description says what is allowed."""
    if not walked:
        return None
    model = _MODELS.get(walked[0])
    if model is not None and len(walked) >= 3 and walked[2] in model.model_fields:
        return model.model_fields[walked[2]]
    return TrainConfig.model_fields.get(walked[0])


def _literal_choices(annotation):
    """The strings of a Literal (or Optional[Literal]) annotation, for did-you-mean."""
    if typing.get_origin(annotation) is Literal:
        return tuple(typing.get_args(annotation))
    return tuple(c for arg in typing.get_args(annotation) for c in _literal_choices(arg))


def _path(parts):
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        elif text and not part.isidentifier():
            text += "[%s]" % _quote(part)
        else:
            text += ("." if text else "") + part
    return text


def _prefixed(where, message):
    return "%s: %s" % (where, message) if where else message


# --------------------------------------------------------------------------------------------
# Showing values.


class _DuplicateKey(Exception):
    pass


def _refuse_duplicate_keys(pairs):
    # json keeps the last of two equal keys silently; a config that says two things is an error.
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey("key %s appears twice in the same object" % _quote(key))
        result[key] = value
    return result


def _did_you_mean(name, choices):
    """' did you mean "x"?' for the closest choice, or ''.  Starts with a space."""
    matches = difflib.get_close_matches(name, choices, n=1)
    return ' did you mean "%s"?' % matches[0] if matches else ""


def _show(value, limit=MAX_SHOWN):
    """A value as JSON would spell it (strings in double quotes, null, true), shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:  # a circular structure, only possible from Python callers
        text = repr(value)
    return _shorten(text, limit)


def _quote(text, limit=MAX_SHOWN):
    return _shorten(json.dumps(str(text), ensure_ascii=False), limit)


def _shorten(text, limit):
    # json.dumps escapes control characters; this also folds Unicode line separators.
    text = " ".join(text.splitlines())
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _json_type(value):
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
