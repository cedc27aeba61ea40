"""The worker's job documents: every key the backend may send, what it accepts, its default,
and which job types need it.

The keys are those of the earlier implementation (worker-jobs.md section 5); a key that
pyramid_train's config has too takes its definition from `pyramid.settings.types`, the one
source of truth for both. As before:
- a key the table does not have fails the job (`max_total_time`, `training_data` and
  `image_network_candidates` are pyramid_train's, not the worker's);
- types are exact (an integer is not 1.0 or true) and `null` always passes;
- absent, `null` and, for the keys in ZERO_MEANS_DEFAULT, 0 mean the default;
- a job type's required keys are checked when the job starts (REQUIRED), with the key named.

Unlike the earlier implementation, ranges that would break training are refused (a beta1 of
1, a learning rate of 0), and `rescale_type` defaults to "crop" for training as for the
written model (the earlier one trained on warped images and predicted on cropped ones).

No TensorFlow here: a bad document is answered before any job work starts.
"""

from typing import Any, Literal

from pydantic import ValidationError, create_model

from pyramid.config import DETECTION_TOPOLOGIES, OBJECTIVE_TYPES, TOPOLOGIES, TRAINING_METHODS
from pyramid.errors import InputError
from pyramid.settings import types
from pyramid.settings.messages import show, translate
from pyramid.settings.types import OPTIMIZER_SETTINGS, STRICT, described, integer, nullable, number, one_of

IMAGE_NETWORKS = TOPOLOGIES + DETECTION_TOPOLOGIES
INITIAL_MODEL_PREFIX = "initial_model"
Text = described(str, "a string")
Words = described(list[str], "a list of strings")
Mapping = described(dict[str, Any], "an object")
Objects = described(list[dict[str, Any]], "a list of objects")
Fraction = number(ge=0, le=1)

# key: (what it accepts, its default). Keys without a default are read only by the job
# types that need them (REQUIRED).
KEYS = {
    # Routing and the workflow.
    "job_id": (Text, None),
    "job_type": (Text, None),  # checked against the registry: pyramid.worker.documents
    "objective_type": (one_of(OBJECTIVE_TYPES), None),
    "output_directory": (types.OutputDirectory, None),
    "logging_level": (described(Literal[1, 2, 3], "1, 2 or 3 (2: progress lines)"), None),
    "cache_file": (Text, None),
    "cache_rows": (integer(0), None),
    "info_list": (Objects, None),
    "instance_weights": (types.Boolean, False),
    "is_search": (types.Boolean, False),
    "parallelism": (integer(1), None),
    "max_data_size": (types.MaxDataSize, None),
    "seed": (types.Seed, None),
    "start_time": (number(ge=0), None),  # internal to the earlier implementation: ignored
    "training_options": (Mapping, None),  # idem
    # Images.
    "base_image_network": (Text, None),  # checked by `image_network`
    "image_training_type": (one_of(TRAINING_METHODS), None),
    "image_root": (types.ImageRoot, None),
    "input_image_shape": (types.ImageShape, None),
    "image_training_data": (Objects, None),
    "rescale_type": (types.RescaleType, "crop"),
    "color_space": (one_of(("rgb", "RGB")), None),  # no effect, as before
    "return_holdout_images": (types.Boolean, False),
    "image_augmentations": (types.ImageAugmentations, []),
    "augmentation_ranges": (types.AugmentationRanges, {}),
    "augmentation_seed": (types.Seed, None),
    "initial_model": (types.InitialModel, None),
    "initial_network_metadata": (Mapping, None),
    "bounding_box_anchors": (types.Anchors, None),
    "strict_boxes": (types.Boolean, None),
    "rescaled_names": (Mapping, None),  # internal to the earlier implementation: ignored
    # Training.
    "layers": (types.Layers, None),
    "batch_size": (types.BatchSize, None),
    "learning_rate": (types.LearningRate, None),
    "descent_algorithm": (types.DescentAlgorithm, None),
    "loss_function": (types.LossFunction, None),
    "max_training_time": (number(gt=0), None),
    "max_iterations": (types.MaxIterations, None),
    "patience": (types.Patience, 32),
    "max_seconds_per_update": (types.SecondsPerUpdate, 16.0),
    "learning_rate_warmup_iterations": (types.WarmupIterations, 0),
    "holdout_rate": (types.HoldoutRate, 0.2),
    "holdout_set_size": (types.HoldoutSetSize, 4096),
    "cheat_on_validation": (types.Boolean, False),
    "label_smoothing_factor": (types.LabelSmoothing, 0.0),
    "class_weights": (described(list[list[Any]], "a list of [class name, weight] pairs"), None),
    "balance_objective": (types.Boolean, False),
    "mixup_alpha": (Fraction, None),
    **{key: (annotated, None) for key, annotated in OPTIMIZER_SETTINGS.items()},
    # Tabular data, trees and searches.
    "tree_embedding": (types.Boolean, False),
    "tree_inputs": (integer(0, 128), None),
    "model_fraction": (Fraction, 0.1),
    "deepnet_version": (one_of(("alpha", "beta")), None),
    # The search's configuration keys: validated and echoed; only those shared with training
    # change it (the network is `layers`).
    "activation_function": (Text, None),
    "dropout_rate": (number(ge=0, le=0.75), None),
    "largest_layer_size": (integer(2, 1024), None),
    "learn_residuals": (types.Boolean, None),
    "number_of_layers": (integer(0, 128), None),
    "topology": (Text, None),
    # pyramid_generate's keys, accepted in job documents as before and not used by any job.
    "background_augmentation_ranges": (Mapping, None),
    "background_image_augmentations": (Words, None),
    "background_image_root": (Text, None),
    "background_label": (Text, None),
    "bounding_box_margin": (number(ge=0), None),
    "constant_box_label": (Text, None),
    "empty_image_rate": (Fraction, None),
    "foreground_augmentation_ranges": (Mapping, None),
    "foreground_image_augmentations": (Words, None),
    "foreground_image_root": (Text, None),
    "generated_dataset_size": (integer(1), None),
    "max_foreground_images": (integer(1, 32), None),
    "occupancy_range": (described(list[float], "a list of numbers"), None),
    "random_background_rate": (Fraction, None),
}

# The earlier implementation applied these defaults with `value or default`: an explicit 0
# means the default (no limit for the budgets, the optimizer's own value).
ZERO_MEANS_DEFAULT = ("max_training_time", "max_iterations", "max_seconds_per_update", "holdout_rate",
                      "mixup_alpha", "model_fraction") + tuple(OPTIMIZER_SETTINGS)

# The search's 14 configuration keys, echoed in `configuration_parameters`.
SEARCH_CONFIGURATION = (
    "activation_function", "balance_objective", "batch_size", "descent_algorithm", "dropout_rate",
    "loss_function", "largest_layer_size", "learn_residuals", "learning_rate", "mixup_alpha",
    "number_of_layers", "seed", "topology", "tree_embedding",
)
IMAGE_MODEL = ("base_image_network", "image_training_type", "input_image_shape", "image_root")
TRAINING = ("layers", "batch_size", "learning_rate", "descent_algorithm", "loss_function", "seed")

# Keys each job type needs (worker-jobs.md 5.3), beyond objective_type, info_list and
# output_directory; `required_keys` adds the ones that depend on the document.
REQUIRED = {
    "image_training": IMAGE_MODEL + TRAINING + ("max_data_size",),
    "dataset_caching": ("cache_file", "cache_rows", "max_data_size", "parallelism", "seed"),
    "standard_training": ("job_id", "cache_file") + TRAINING,
    "search_submodel": ("job_id", "cache_file") + TRAINING,
    "finalize_output": (),
}
ALWAYS = ("objective_type", "info_list", "output_directory")

# pyramid_train's keys that a job document does not take, and what it takes instead.
PYRAMID_TRAIN_ONLY = {
    "max_total_time": "a job's time budget is max_training_time",
    "training_data": "a job's points are in cache_file or image_training_data",
    "image_network_candidates": "a job trains base_image_network with image_training_type",
    "precision": "the worker chooses the fastest precision the machine runs well",
    "jit_compile": "the worker trains without XLA, slower on CPUs",
    "augmentation_placement": "the worker augments in its input pipeline",
    "pretrained_weights_directory": "the worker reads pretrained weights from PYRAMID_WEIGHTS_DIR",
}

JobSettings = create_model(
    "JobSettings", __config__=STRICT,
    **{key: (nullable(annotated), default) for key, (annotated, default) in KEYS.items()},
)


def validate_document(document):
    """The document's JobSettings, defaults filled in; an InputError naming the key when a
    key is unknown or its value is not allowed."""
    given = {key: value for key, value in document.items() if not _means_default(key, value)}
    for key in given:
        if key in PYRAMID_TRAIN_ONLY:
            raise InputError('unknown key "%s"; it is a pyramid_train config key (%s)'
                             % (key, PYRAMID_TRAIN_ONLY[key]))
    try:
        return JobSettings.model_validate(given)
    except ValidationError as error:
        raise InputError(translate(error, given, JobSettings, not_a_key=" it is not a job document key")) from None


def check_required(settings, job_type, document):
    """An InputError naming the first key `job_type` needs that the document lacks. A search
    submodel's configuration keys must be present, null allowed (mixup_alpha null: none)."""
    for key in required_keys(settings, job_type):
        if getattr(settings, key) is None:
            raise InputError('missing required key "%s"; %s jobs need it' % (key, job_type))
    if job_type == "search_submodel":
        for key in SEARCH_CONFIGURATION:
            if key not in document:
                raise InputError('missing required key "%s"; search_submodel jobs echo their 14 configuration '
                                 "keys (null is allowed)" % key)


def required_keys(settings, job_type):
    keys = ALWAYS + REQUIRED[job_type]
    detection = settings.objective_type == "bounding_box"
    if job_type == "image_training":
        if detection:  # a YOLO network has its own heads and loss
            keys = tuple(key for key in keys if key not in ("layers", "loss_function"))
        if settings.image_training_data is None:
            keys += ("cache_file",)
            if (settings.cache_file or "").endswith(".ser"):
                keys += ("cache_rows",)
    if job_type in ("dataset_caching", "finalize_output") and has_image_column(settings):
        keys += IMAGE_MODEL
    if job_type == "dataset_caching" and not settings.tree_embedding:
        keys += ("is_search",)
    return keys


def has_image_column(settings):
    return any(isinstance(entry, dict) and entry.get("type") == "image" for entry in settings.info_list or ())


def image_network(settings):
    """The topology of `base_image_network`: one pyramid builds, or "initial_model" for the
    earlier implementation's `initial_model_<i>` (which trains from `initial_model`)."""
    name = settings.base_image_network
    if name in IMAGE_NETWORKS:
        return name
    if name.startswith(INITIAL_MODEL_PREFIX):
        if settings.initial_model is None:
            raise InputError('base_image_network: %s needs "initial_model", the path of the '
                             "final_model.json to start from" % show(name))
        return INITIAL_MODEL_PREFIX
    raise InputError("base_image_network: %s is not allowed; expected one of %s, or initial_model_<i> "
                     "with initial_model" % (show(name), ", ".join(IMAGE_NETWORKS)))


def model_id(settings):
    """`<base_image_network>_<image_training_type>`: where an image_training job leaves its
    model (`submodel_<model id>/`), and the job_id of its progress lines and result."""
    return "%s_%s" % (settings.base_image_network, settings.image_training_type)


def progress_id(settings, job_type):
    """The job_id a job's progress lines carry: the model id for image_training."""
    return model_id(settings) if job_type == "image_training" else settings.job_id


def configuration_parameters(settings):
    """A search submodel's 14 configuration keys, as the backend reads them back."""
    return {key: getattr(settings, key) for key in SEARCH_CONFIGURATION}


def _means_default(key, value):
    if value is None:
        return True
    return key in ZERO_MEANS_DEFAULT and not isinstance(value, bool) and value == 0
