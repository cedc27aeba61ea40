"""The pyramid_generate config: the generation keys, what each accepts, and their checks.

A generation config holds the keys below plus any pyramid_train keys, which are copied into
the config written beside the generated images. What each generation key accepts is declared
once in `GenerateConfig` from the shared types of `pyramid.settings.types` (so the messages
read like pyramid_train's); the training keys are checked by pyramid_train's own validation
(`pyramid.config.validate_train_config`), run on the config that will be written, with a
stand-in for the training data, so a training key that pyramid_train would refuse is refused
before any image is generated. Rules that involve several keys or the file system are the
small `_check_*` functions. Every problem is a one-line `ConfigError`.

This module must not import TensorFlow: config errors are reported before TensorFlow loads.
"""

import os
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ValidationError

from pyramid.config import TrainConfig, read_config_object, validate_train_config
from pyramid.errors import ConfigError
from pyramid.generate import augmentation, sources
from pyramid.settings import types
from pyramid.settings.messages import (
    did_you_mean, json_type, path_text, quote, show, translate,
)
from pyramid.settings.types import STRICT, is_number, nullable

CATEGORICAL, DETECTION = "categorical", "bounding_box"
OBJECTIVE_TYPES = (CATEGORICAL, DETECTION)
MAX_FOREGROUNDS = 32
MAX_OCCUPANCY = 10.0
# What the written config calls its images and its results, relative to itself.
IMAGE_DIRECTORY = "train"
RESULTS_DIRECTORY = "results"
CONFIG_NAME = "config.json"
# Keys pyramid_generate writes into the training config itself.
WRITTEN_KEYS = ("training_data", "image_root")



def _check_directory_name(label):
    if not label or "/" in label or "\\" in label or label in (".", ".."):
        raise ValueError("not a directory name")
    return label


Label = types.described(Annotated[str, AfterValidator(_check_directory_name)],
                        'a non-empty string without "/" (it names a directory of train/)')
Directory = types.described(str, "a non-empty string (a directory of images)", min_length=1)
Occupancy = types.described(
    list[float], "[low, high]: two numbers from 0 to %g, low <= high, high > 0" % MAX_OCCUPANCY,
    min_length=2, max_length=2,
)


class GenerateConfig(BaseModel):
    """The generation keys, defaults applied (training keys are kept apart: `training`)."""

    model_config = STRICT

    # Required keys.
    foreground_image_root: Directory
    generated_dataset_size: types.integer(1, 10**8)
    input_image_shape: types.ImageShape
    objective_type: types.one_of(OBJECTIVE_TYPES)
    output_directory: types.OutputDirectory

    # Optional keys.
    background_image_root: nullable(Directory) = None
    foreground_image_augmentations: types.ImageAugmentations = []
    foreground_augmentation_ranges: types.AugmentationRanges = {}
    background_image_augmentations: types.ImageAugmentations = []
    background_augmentation_ranges: types.AugmentationRanges = {}
    background_label: nullable(Label) = None
    bounding_box_margin: types.integer(0, 4096) = 0
    constant_box_label: nullable(Label) = None
    empty_image_rate: types.number(ge=0, le=1) = 0.0
    occupancy_range: Occupancy = [0.2, 0.6]
    max_foreground_images: types.integer(0, MAX_FOREGROUNDS) = 1
    random_background_rate: types.number(ge=0, le=1) = 0.0
    balance_objective: types.Boolean = False
    seed: types.Seed = 42
    augmentation_seed: nullable(types.Seed) = None

    @property
    def image_shape_hw(self):
        width, height, _ = self.input_image_shape
        return (height, width)

    @property
    def foreground_augmentations(self):
        return augmentation.active_parameters(self.foreground_image_augmentations,
                                              self.foreground_augmentation_ranges)

    @property
    def background_augmentations(self):
        return augmentation.active_parameters(self.background_image_augmentations,
                                              self.background_augmentation_ranges)

    @property
    def effective_augmentation_seed(self):
        return self.seed if self.augmentation_seed is None else self.augmentation_seed

    @property
    def empty_images_possible(self):
        return self.empty_image_rate > 0 or self.max_foreground_images == 0


GENERATION_KEYS = tuple(GenerateConfig.model_fields)
# Keys both commands have: used for generating and copied into the written config.
SHARED_KEYS = tuple(key for key in GENERATION_KEYS if key in TrainConfig.model_fields)


class Generation:
    """Everything a run needs: the validated generation keys (`config`), the training keys to
    copy (`training`), the foreground and background files, and where things go."""

    def __init__(self, config, training, foregrounds, backgrounds):
        self.config = config
        self.training = training
        self.foregrounds = foregrounds  # sources.Images
        self.backgrounds = backgrounds  # sources.Images or None (synthetic backgrounds only)

    @property
    def output_directory(self):
        return self.config.output_directory

    @property
    def classes(self):
        """The labels a generated image or box can have, sorted."""
        config = self.config
        if config.objective_type == DETECTION and config.constant_box_label is not None:
            return [config.constant_box_label]
        labels = set(self.foregrounds.label_names)
        if config.objective_type == CATEGORICAL and config.background_label is not None and config.empty_images_possible:
            labels.add(config.background_label)
        return sorted(labels)

    @property
    def synthetic_background_rate(self):
        """Without a background root every background is synthetic."""
        return 1.0 if self.backgrounds is None else self.config.random_background_rate

    def training_config(self, training_data):
        """The config pyramid_train reads: the training keys, the shared keys, the data."""
        config = self.config
        written = dict(self.training)
        for key in SHARED_KEYS:
            written[key] = getattr(config, key)
        if config.objective_type == DETECTION:
            # pyramid_train refuses it for detection; here it only meant sampling classes.
            del written["balance_objective"]
        # Relative to the written config: the data set can be moved as a whole.
        written["output_directory"] = RESULTS_DIRECTORY
        written["image_root"] = IMAGE_DIRECTORY
        written["training_data"] = training_data
        return written


# --------------------------------------------------------------------------------------------
# Public entry points.


def load_generate_config(path, replace=False):
    """Read and check the JSON config at `path`; relative paths in it resolve against its
    directory. Returns a Generation. Raises ConfigError."""
    data = read_config_object(path)
    return validate_generate_config(data, os.path.dirname(os.path.abspath(path)), replace)


def validate_generate_config(data, base_dir=None, replace=False):
    if not isinstance(data, dict):
        raise ConfigError("the config must be a JSON object ({...}), not %s" % json_type(data))
    base_dir = os.path.abspath(base_dir if base_dir is not None else os.getcwd())
    _check_key_names(data)
    generation = {key: value for key, value in data.items() if key in GENERATION_KEYS}
    training = {key: value for key, value in data.items() if key not in GENERATION_KEYS}
    try:
        config = GenerateConfig.model_validate(generation)
    except ValidationError as error:
        raise ConfigError(translate(error, generation, GenerateConfig)) from None

    _check_occupancy(config)
    for prefix in ("foreground", "background"):
        _check_augmentations(config, prefix)
    _check_labels_apply(config)
    given = config
    config = config.model_copy(update={
        key: os.path.abspath(os.path.join(base_dir, getattr(config, key)))
        for key in ("foreground_image_root", "background_image_root", "output_directory")
        if getattr(config, key) is not None
    })
    foregrounds = _foreground_images(config, given)
    backgrounds = _background_images(config, given)
    generation = Generation(config, training, foregrounds, backgrounds)
    _check_classes(generation)
    _check_training_keys(generation)
    _check_output_directory(config, replace)
    return generation


# --------------------------------------------------------------------------------------------
# Checks.


def _check_key_names(data):
    """Every key is a generation key or a pyramid_train key; the keys pyramid_generate
    writes itself are refused."""
    train_keys = tuple(TrainConfig.model_fields)
    for key in data:
        if key in WRITTEN_KEYS:
            raise ConfigError("%s: not allowed here; pyramid_generate writes it (the generated "
                              "images) into the config it writes; remove the key" % key)
        if key not in GENERATION_KEYS and key not in train_keys:
            raise ConfigError("unknown key %s;%s it is neither a pyramid_generate nor a "
                              "pyramid_train key" % (quote(key), did_you_mean(key, GENERATION_KEYS + train_keys)))


def _check_occupancy(config):
    low, high = config.occupancy_range
    if not (0 <= low <= high <= MAX_OCCUPANCY and high > 0):
        raise ConfigError("occupancy_range: %s is not allowed; expected %s"
                          % (show(config.occupancy_range), GenerateConfig.model_fields["occupancy_range"].description))


def _check_augmentations(config, prefix):
    """Like pyramid_train's image_augmentations / augmentation_ranges, under these names."""
    names_key, ranges_key = prefix + "_image_augmentations", prefix + "_augmentation_ranges"
    seen = set()
    for index, name in enumerate(getattr(config, names_key)):
        canonical = _augmentation_name("%s[%d]" % (names_key, index), name)
        if canonical in seen:
            raise ConfigError("%s[%d]: %s repeats an earlier item; each augmentation may appear once"
                              % (names_key, index, show(name)))
        seen.add(canonical)
    seen = set()
    for name, value in getattr(config, ranges_key).items():
        key = path_text([ranges_key, name])
        canonical = _augmentation_name(ranges_key, name)
        if canonical in seen:
            raise ConfigError("%s: repeats an earlier key (the same augmentation); each augmentation "
                              "may appear once" % key)
        seen.add(canonical)
        if canonical in augmentation.NUMERIC and value is not None:
            largest = augmentation.NUMERIC[canonical][1]
            if not (is_number(value) and 0 <= value <= largest):
                raise ConfigError("%s: %s is not allowed; expected a number from 0 to %g or null"
                                  % (key, show(value), largest))


def _augmentation_name(key, name):
    known = augmentation.NAMES + tuple(augmentation.ALIASES)
    if name not in known:
        raise ConfigError("%s: unknown augmentation %s;%s expected one of %s"
                          % (key, show(name), did_you_mean(name, known), ", ".join(augmentation.NAMES)))
    return augmentation.ALIASES.get(name, name)


def _check_labels_apply(config):
    if config.objective_type == CATEGORICAL and config.constant_box_label is not None:
        raise ConfigError('constant_box_label: %s is not allowed with objective_type "categorical"; it '
                          'labels the boxes of "bounding_box" problems; remove the key'
                          % show(config.constant_box_label))
    if config.objective_type == CATEGORICAL and config.empty_images_possible and config.background_label is None:
        cause = ("empty_image_rate is %s" % show(config.empty_image_rate) if config.empty_image_rate > 0
                 else "max_foreground_images is 0")
        raise ConfigError("background_label: missing, but %s, and a categorical problem needs a label "
                          "for the images without a foreground; give background_label" % cause)


def _foreground_images(config, given):
    key, root = "foreground_image_root", config.foreground_image_root
    _check_directory(key, root, given)
    images = sources.list_images(root, subdirectories=True)
    if not images.paths:
        raise ConfigError("%s: %s holds no images (%s files, in it or in its sub-directories)"
                          % (key, quote(root, limit=None), ", ".join(sources.EXTENSIONS)))
    if config.objective_type == DETECTION and config.constant_box_label is None and "" in images.label_names:
        raise ConfigError('%s: %s has images directly in it, which have no label (the empty string), '
                          'and a box needs one; put them in sub-directories named for their labels, '
                          'or give constant_box_label' % (key, quote(root, limit=None)))
    return images


def _background_images(config, given):
    key, root = "background_image_root", config.background_image_root
    if root is None:
        return None
    _check_directory(key, root, given)
    images = sources.list_images(root, subdirectories=False)
    if not images.paths:
        raise ConfigError("%s: %s holds no images (%s files directly in it; sub-directories are not used)"
                          % (key, quote(root, limit=None), ", ".join(sources.EXTENSIONS)))
    return images


def _check_directory(key, root, given):
    if not os.path.isdir(root):
        raise ConfigError("%s: %s is not an existing directory (looked for %s)"
                          % (key, show(getattr(given, key)), quote(root, limit=None)))


def _check_classes(generation):
    config = generation.config
    if config.objective_type == CATEGORICAL and len(generation.classes) < 2:
        raise ConfigError(
            "foreground_image_root: %s gives the single label %s; a categorical problem needs at "
            "least 2 (sub-directories of foregrounds, or background_label with empty_image_rate)"
            % (quote(config.foreground_image_root, limit=None), show(generation.classes[0]))
        )


def _check_training_keys(generation):
    """pyramid_train's own validation of the config that will be written, with a stand-in
    for the generated data: one point per class, on an existing foreground file."""
    first = os.path.relpath(generation.foregrounds.paths[0], generation.config.foreground_image_root)
    if generation.config.objective_type == DETECTION:
        stand_in = [{"file": first, "boxes": [[0, 0, 1, 1, label]]} for label in generation.classes]
    else:
        stand_in = [{"file": first, "label": label} for label in generation.classes]
    written = generation.training_config(stand_in)
    written["image_root"] = generation.config.foreground_image_root
    written["output_directory"] = os.path.join(generation.output_directory, written["output_directory"])
    validate_train_config(written, base_dir=generation.output_directory)


def _check_output_directory(config, replace):
    """A generated set (train/ or config.json) is replaced only when asked to."""
    directory = config.output_directory
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ConfigError("output_directory: %s exists and is not a directory" % quote(directory, limit=None))
    found = [name for name in (IMAGE_DIRECTORY, CONFIG_NAME) if os.path.exists(os.path.join(directory, name))]
    if found and not replace:
        raise ConfigError("output_directory: %s already holds a generated data set (%s); choose another "
                          "directory, or pass --replace to replace it" % (quote(directory, limit=None), ", ".join(found)))
