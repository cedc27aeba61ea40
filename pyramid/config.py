"""The pyramid_train config: read a JSON file, check every key, fill in the defaults.

What each key accepts (type, range, the text of its error) is declared once in
`pyramid.settings.types`, shared with the worker's job documents; `TrainConfig` below gives
each key its pyramid_train default. Rules that involve several keys (or the file system) are
the small `_check_*` functions after it.  Every problem is raised as a one-line `ConfigError`
that names the key (with the index of the bad training point or candidate), shows the bad
value and says what is allowed (`pyramid.settings.messages`).

Object detection configs (points with `boxes`) are checked here like the others, including
the keys that do not apply to detection. Pretrained weights and initial models are accepted:
their files are checked here (initial models) and before training (`pyramid.nets.pretrained`).

Optimizer settings come from `pyramid.train.optimizer_settings`, loss names from
`pyramid.train.loss_settings`, readout layer types from `pyramid.nets.readout_layers`: tables
without TensorFlow that the training code reads as well.

Augmentation names, aliases, defaults and ranges come from `pyramid.augment.registry`,
which the augmentation code reads as well.

This module must not import TensorFlow: config errors are reported before TensorFlow loads.
"""

import json
import os
from functools import cached_property
from typing import Any, Optional

from pydantic import BaseModel, PrivateAttr, ValidationError

from pyramid.augment import registry as augmentation_registry
from pyramid.errors import ConfigError
from pyramid.nets import readout_layers
from pyramid.settings import types
from pyramid.settings.messages import (
    DuplicateKey, did_you_mean, json_type, path_text, quote, refuse_duplicate_keys, show, translate,
)
from pyramid.settings.types import STRICT, is_number, nullable
from pyramid.train import loss_settings, optimizer_settings

__all__ = ["TrainConfig", "load_train_config", "validate_train_config"]

DESCENT_ALGORITHMS = optimizer_settings.NAMES
CATEGORICAL_LOSSES = loss_settings.names("categorical")
NUMERIC_LOSSES = loss_settings.names("numeric")
LOSSES = {"categorical": CATEGORICAL_LOSSES, "numeric": NUMERIC_LOSSES}
DEFAULT_LOSS = loss_settings.DEFAULT
LABEL_KINDS = {"categorical": "strings (categorical)", "numeric": "numbers (numeric)"}
RESCALE_TYPES = types.RESCALE_TYPES

# Topologies without pretrained weights: they can only be randomly initialized.
SCRATCH_TOPOLOGIES = ("simple", "simple_residual")
TOPOLOGIES = SCRATCH_TOPOLOGIES + ("mobilenet", "mobilenetv2", "resnet18")
DETECTION_TOPOLOGIES = ("tinyyolov4", "yolov4")
PRETRAINED_METHODS = ("fine_tune", "use_pretrained")
TRAINING_METHODS = ("randomly_initialize",) + PRETRAINED_METHODS
INITIAL_MODEL = "initial_model"
# "auto": the fastest the hardware runs well (see pyramid.train.devices).
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# Where the augmentations run: in the input pipeline, on the CPU ("input"), or inside the
# training step, on each replica's device ("device"; see pyramid.train.step_augmentation).
AUGMENTATION_PLACEMENTS = ("input", "device")
# YOLO networks: their branches (3 anchors each); sensenet needs a square input, and the
# coarsest branch's grid must divide it.
YOLO_BRANCHES = {"tinyyolov4": 2, "yolov4": 3}
ANCHORS_PER_BRANCH = 3
YOLO_INPUT_MULTIPLE = 32
DETECTION = "bounding_box"
# The objectives' names (`pyramid.objectives.OBJECTIVES`, which imports more than the config
# may before reporting an error; a test keeps the two equal).
OBJECTIVE_TYPES = ("categorical", "numeric", DETECTION)

# Re-exported from pyramid.augment.registry, the one place that defines them.  The product
# README spells the flips "flip_horizontal" / "flip_vertical"; both spellings are accepted.
AUGMENTATIONS = augmentation_registry.NAMES
AUGMENTATION_ALIASES = augmentation_registry.ALIASES

MAX_SEED = types.MAX_SEED
OPTIMIZER = types.OPTIMIZER_SETTINGS


# What the keys only pyramid_train has accept.
PointFile = types.described(str, "a non-empty string (a path under image_root)", min_length=1)
PointLabel = types.described(types.Label, "a string (categorical) or a number (numeric)")
PointWeight = types.number(gt=0)
PointBoxes = types.described(Optional[list[Any]], 'a list of [x1, y1, x2, y2, "label"] boxes')
Candidates = types.described(list[types.Pair], "a non-empty list of [topology, method] pairs of strings",
                             min_length=1)
TotalTime = types.number(gt=0)
Objective = types.one_of(OBJECTIVE_TYPES)
Precision = types.one_of(PRECISIONS)
AugmentationPlacement = types.one_of(AUGMENTATION_PLACEMENTS)
WeightsDirectory = types.described(
    str, "a non-empty string (a directory of <network>_weights_<version>.h5 files)", min_length=1
)


class TrainingPoint(BaseModel):
    """One element of `training_data`."""

    model_config = STRICT

    file: PointFile
    # None means absent (an explicit null fails the validator: defaults are not validated);
    # a point without a label is only fine with `boxes` (object detection).
    label: PointLabel = None
    weight: PointWeight = 1.0
    boxes: PointBoxes = None


Points = types.described(
    list[TrainingPoint], "a non-empty list of training points, objects with keys file, label and weight",
    min_length=1,
)


class TrainConfig(BaseModel):
    """A validated pyramid_train config: every key with its default applied.

    Built only by `validate_train_config` / `load_train_config`, which also fill in
    `objective_type` and `loss_function` from the labels and make `image_root` and
    `output_directory` absolute.  Frozen: a changed config must be validated again.
    """

    model_config = STRICT

    # Required keys.
    training_data: Points
    image_root: types.ImageRoot
    input_image_shape: types.ImageShape
    output_directory: types.OutputDirectory
    image_network_candidates: Candidates
    max_total_time: TotalTime

    # Optional keys.
    batch_size: types.BatchSize = 32
    balance_objective: types.Boolean = False
    descent_algorithm: types.DescentAlgorithm = "adam"
    learning_rate: types.LearningRate = 0.001
    learning_rate_warmup_iterations: types.WarmupIterations = 0
    holdout_set_size: types.HoldoutSetSize = 4096
    holdout_rate: types.HoldoutRate = 0.2
    # None until validation fills in the default for the objective.
    loss_function: nullable(types.LossFunction) = None
    max_data_size: types.MaxDataSize = 1073741824
    rescale_type: types.RescaleType = "crop"
    patience: types.Patience = 10
    max_seconds_per_update: types.SecondsPerUpdate = 16.0
    seed: types.Seed = 42
    label_smoothing_factor: types.LabelSmoothing = 0.0
    # The momentum of the moving average of the weights that checks judge and the output
    # keeps (`pyramid.train.weight_averaging`); 0 judges the weights of the last batch.
    weight_averaging: types.WeightAveraging = 0.999
    cheat_on_validation: types.Boolean = False
    max_iterations: nullable(types.MaxIterations) = None
    layers: nullable(types.Layers) = None
    # None until validation fills it in from the labels.
    objective_type: nullable(Objective) = None
    augmentation_seed: nullable(types.Seed) = None

    # Optimizer hyper-parameters; null means the optimizer's own default.
    beta1: nullable(OPTIMIZER["beta1"]) = None
    beta2: nullable(OPTIMIZER["beta2"]) = None
    epsilon: nullable(OPTIMIZER["epsilon"]) = None
    momentum: nullable(OPTIMIZER["momentum"]) = None
    rho: nullable(OPTIMIZER["rho"]) = None
    init_accumulator: nullable(OPTIMIZER["init_accumulator"]) = None
    l1_regularization: nullable(OPTIMIZER["l1_regularization"]) = None
    l2_regularization: nullable(OPTIMIZER["l2_regularization"]) = None
    learning_rate_power: nullable(OPTIMIZER["learning_rate_power"]) = None

    # Augmentations: names and parameters are checked by `_check_augmentations`, and the
    # `augmentations` property below says which ones are active, with which parameter.
    image_augmentations: types.ImageAugmentations = []
    augmentation_ranges: types.AugmentationRanges = {}
    # "device": the training step augments on the GPUs, the CPU only decodes (not for
    # object detection, see `_check_augmentation_placement`).
    augmentation_placement: AugmentationPlacement = "input"

    # Precision, XLA, pretrained weights and initial models.
    precision: Precision = "auto"
    # Compile the training step with XLA: slower for every topology on this CPU
    # (benchmarks/train.py --xla), so off unless asked for.
    jit_compile: types.Boolean = False
    pretrained_weights_directory: nullable(WeightsDirectory) = None
    initial_model: nullable(types.InitialModel) = None
    # Object detection keys (see `_check_detection_keys`).
    bounding_box_anchors: nullable(types.Anchors) = None
    strict_boxes: nullable(types.Boolean) = None

    # The worker's info_list gives the classes (in its order) or a numeric objective's mean
    # and stdev (`output_exposition`); pyramid_train derives them from the labels.
    _exposition: Optional[dict] = PrivateAttr(None)

    # Derived values.  Cached because training reads them per point; `model_copy` below drops
    # the cache so a copy never carries values computed from the old fields.

    @cached_property
    def classes(self):
        """Sorted distinct string labels (of the boxes, for detection), or None for a numeric
        objective; the worker's classes, in its order, when it gave them."""
        if self._exposition is not None and "values" in self._exposition:
            return list(self._exposition["values"])
        if self.objective_type == DETECTION:
            return sorted({box[4] for point in self.training_data for box in point.boxes})
        if self.objective_type != "categorical":
            return None
        return sorted({point.label for point in self.training_data})

    @property
    def label_scale(self):
        """(mean, stdev) of a numeric objective when the worker gave them, else None: the
        labels' own are used."""
        if self._exposition is None or "mean" not in self._exposition:
            return None
        return self._exposition["mean"], self._exposition["stdev"]

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
        return augmentation_registry.active_parameters(
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


_ITEM_MODELS = {"training_data": TrainingPoint}  # list keys whose elements are models

# --------------------------------------------------------------------------------------------
# Public entry points.


def load_train_config(path):
    """Read the JSON config at `path` and validate it; relative paths in it resolve against
    the directory of the config file.  Raises ConfigError."""
    data = read_config_object(path)
    return validate_train_config(data, base_dir=os.path.dirname(os.path.abspath(os.fspath(path))))


def read_config_object(path):
    """The JSON object in the config file at `path` (a dict), or ConfigError saying why the
    file cannot be read, is not JSON, repeats a key or holds something else."""
    path = os.fspath(path)
    shown = quote(path, limit=None)
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
        data = json.loads(text, object_pairs_hook=refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ConfigError(
            "config file %s is not valid JSON: %s at line %d, column %d"
            % (shown, error.msg, error.lineno, error.colno)
        ) from None
    except DuplicateKey as error:
        raise ConfigError("config file %s is not valid: %s" % (shown, error)) from None

    if not isinstance(data, dict):
        raise ConfigError(
            "config file %s must hold a JSON object ({...}), not %s" % (shown, json_type(data))
        )
    return data


def validate_train_config(data, base_dir=None, exposition=None):
    """Validate a config dict; relative image_root / output_directory resolve against
    `base_dir` (default: the current directory).  Raises ConfigError.

    `exposition` is the worker's objective (an info_list entry): its `values` are the classes,
    in their order, with those no label has; its `mean` and `stdev` scale a numeric one."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a JSON object ({...}), not %s" % json_type(data))
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as error:
        # `from None`: pydantic's multi-line report must not reach the user, even with --debug.
        raise ConfigError(translate(error, data, TrainConfig, _ITEM_MODELS, " it is not a pyramid_train config key")) from None

    if exposition is not None:
        config._exposition = exposition
    objective = _check_boxes(config) or _check_labels(config)
    _check_detection_keys(config, objective)
    loss = _check_loss(config, objective)
    _check_label_smoothing(config, objective)
    _check_readout_layers(config, objective, loss)
    _check_candidates(config, objective)
    _check_optimizer_settings(config)
    _check_augmentations(config)
    _check_augmentation_placement(config, objective)
    base_dir = os.path.abspath(base_dir if base_dir is not None else os.getcwd())
    image_root = _check_image_root(config, base_dir)
    output_directory = _check_output_directory(config, base_dir)
    _check_image_files(config, image_root)
    candidates, initial_model = _resolve_initial_models(config, base_dir)
    weights_directory = config.pretrained_weights_directory
    if weights_directory is not None:
        weights_directory = os.path.abspath(os.path.join(base_dir, weights_directory))

    validated = config.model_copy(
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
    validated._exposition = exposition
    return validated


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
            '"bounding_box" or remove the key' % show(declared)
        )
    if not any(point.boxes for point in config.training_data):
        raise ConfigError("training_data: no point has a box; object detection needs at least one")
    return DETECTION


def _check_box(key, box):
    """[x1, y1, x2, y2, "label"] in the image's pixels, x2 > x1 and y2 > y1."""
    if not (isinstance(box, list) and len(box) == 5):
        raise ConfigError('%s: %s is not allowed; expected [x1, y1, x2, y2, "label"]' % (key, show(box)))
    for position, name in enumerate(("x1", "y1", "x2", "y2")):
        if not is_number(box[position]):
            raise ConfigError(
                "%s[%d]: %s is not allowed; expected a number (%s, in the image's pixels)"
                % (key, position, show(box[position]), name)
            )
    if not (isinstance(box[4], str) and box[4]):
        raise ConfigError("%s[4]: %s is not allowed; expected a non-empty string (the object's "
                          "label)" % (key, show(box[4])))
    for low, high, names in ((0, 2, ("x1", "x2")), (1, 3, ("y1", "y2"))):
        if not box[high] > box[low]:
            raise ConfigError(
                "%s: %s is not allowed; %s (%s) must be greater than %s (%s)"
                % (key, show(box), names[1], show(box[high]), names[0], show(box[low]))
            )


def _check_detection_keys(config, objective):
    """The keys of object detection only with boxes; with boxes, the keys that do not apply
    refused with why, the input shape and anchors YOLO needs."""
    if objective != DETECTION:
        for key in ("bounding_box_anchors", "strict_boxes"):
            if getattr(config, key) is not None:
                raise ConfigError(
                    "%s: %s is not allowed; it is for object detection, and the training points "
                    "have labels, not boxes" % (key, show(getattr(config, key)))
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
                % (key, show(getattr(config, key)), why)
            )

    width, height, _ = config.input_image_shape
    if width != height or width % YOLO_INPUT_MULTIPLE:
        raise ConfigError(
            "input_image_shape: %s is not allowed for object detection; YOLO needs a square "
            "input whose side is a multiple of %d (sensenet's grids), e.g. [%d, %d, 3]"
            % (show(config.input_image_shape), YOLO_INPUT_MULTIPLE,
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
                % (index, show(point.label), _a_kind(kind), earlier, LABEL_KINDS[objective])
            )

    declared = config.objective_type
    if declared is not None and declared != objective:
        raise ConfigError(
            'objective_type: %s does not match the labels, which are %s; use "%s" or remove '
            "the key" % (show(declared), LABEL_KINDS[objective], objective)
        )

    if objective == "categorical":
        classes = {point.label for point in config.training_data}
        if len(classes) < 2:
            raise ConfigError(
                "training_data: every label is %s; a categorical objective needs at least "
                "2 distinct classes" % show(classes.pop())
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
            % (show(loss), other, LABEL_KINDS[objective], ", ".join(LOSSES[objective]))
        )
    return loss


def _check_label_smoothing(config, objective):
    # Smoothing spreads probability over classes; a numeric objective has none.
    if objective == "numeric" and config.label_smoothing_factor != 0:
        raise ConfigError(
            "label_smoothing_factor: %s is not allowed for numeric objectives (the labels are "
            "numbers); use 0 or remove the key" % show(config.label_smoothing_factor)
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
        given = config._exposition or {}
        classes = given.get("values") or {point.label for point in config.training_data}
        needed, what = len(classes), "one per class"
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
                    show(topology),
                    did_you_mean(topology, TOPOLOGIES + DETECTION_TOPOLOGIES + (INITIAL_MODEL,)),
                    ", ".join(TOPOLOGIES + DETECTION_TOPOLOGIES),
                    INITIAL_MODEL,
                )
            )
        elif method not in TRAINING_METHODS:
            raise ConfigError(
                "%s[1]: %s is not allowed;%s expected one of %s"
                % (key, show(method), did_you_mean(method, TRAINING_METHODS),
                   ", ".join(TRAINING_METHODS))
            )
        elif topology in SCRATCH_TOPOLOGIES and method in PRETRAINED_METHODS:
            raise ConfigError(
                '%s: %s is not allowed; no pretrained weights exist for %s, so its method must '
                'be "randomly_initialize"' % (key, show([topology, method]), topology)
            )

        pair = (topology, method)
        if pair in seen:
            raise ConfigError(
                "%s: %s repeats image_network_candidates[%d]; each candidate may appear once"
                % (key, show(list(pair)), seen[pair])
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
            "choose another descent_algorithm" % (unused[0], show(given[unused[0]]), name, takes)
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
        if canonical in augmentation_registry.NUMERIC and value is not None:
            largest = augmentation_registry.NUMERIC[canonical][1]
            if not (is_number(value) and 0 <= value <= largest):
                raise ConfigError(
                    "%s: %s is not allowed; expected a number from 0 to %g or null"
                    % (path_text(["augmentation_ranges", name]), show(value), largest)
                )


def _check_augmentation_placement(config, objective):
    """No "device" placement for object detection: its boxes move with the images, and its
    training targets are built from the moved boxes, both in the input pipeline. Nor with
    jit_compile and blur: XLA then compiles the whole step, and blur's per-image sizes
    cannot be compiled."""
    if config.augmentation_placement != "device":
        return
    if objective == DETECTION:
        raise ConfigError(
            'augmentation_placement: "device" is not allowed for object detection: the boxes '
            "must move with the images and the training targets are built from the moved boxes, "
            'in the input pipeline; use "input" or remove the key'
        )
    if config.jit_compile and "blur" in config.augmentations:
        raise ConfigError(
            'augmentation_placement: "device" is not allowed with jit_compile true and the blur '
            "augmentation: XLA would compile the augmentation with the training step, and blur's "
            'per-image sizes cannot be compiled; use "input", jit_compile false, or no blur'
        )


def _augmentation_name(key, name):
    """The canonical name of a known augmentation name or alias; else a ConfigError."""
    known = AUGMENTATIONS + tuple(AUGMENTATION_ALIASES)
    if name not in known:
        raise ConfigError(
            "%s: unknown augmentation %s;%s expected one of %s"
            % (key, show(name), did_you_mean(name, known), ", ".join(AUGMENTATIONS))
        )
    return AUGMENTATION_ALIASES.get(name, name)


def _repeated_augmentation(key, name, first_where, first_name):
    same = "" if name == first_name else " (the same augmentation)"
    return ConfigError(
        "%s: %s repeats %s%s%s; each augmentation may appear once"
        % (key, show(name), first_where, show(first_name), same)
    )


def _check_image_root(config, base_dir):
    image_root = os.path.abspath(os.path.join(base_dir, config.image_root))
    if not os.path.isdir(image_root):
        raise ConfigError(
            "image_root: %s is not an existing directory (looked for %s)"
            % (show(config.image_root), quote(image_root, limit=None))
        )
    return image_root


def _check_output_directory(config, base_dir):
    # Created by training; only a file standing in its way can be caught now.
    output_directory = os.path.abspath(os.path.join(base_dir, config.output_directory))
    if os.path.exists(output_directory) and not os.path.isdir(output_directory):
        raise ConfigError(
            "output_directory: %s exists and is not a directory (%s)"
            % (show(config.output_directory), quote(output_directory, limit=None))
        )
    return output_directory


def _resolve_initial_models(config, base_dir):
    """Absolute paths of the trained models to start from; each must be an existing file."""

    def resolve(key, path):
        full = os.path.abspath(os.path.join(base_dir, path))
        if not os.path.isfile(full):
            raise ConfigError(
                "%s: %s is not an existing file (expected a final_model.json written by "
                "pyramid_train)" % (key, show(path))
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
                % (index, show(point.file), quote(image_root, limit=None))
            )

