"""Tests of pyramid.config: the pyramid_train config keys, their defaults and error lines."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from pyramid import config as config_module
from pyramid.config import TrainConfig, load_train_config, validate_train_config
from pyramid.augment import registry
from pyramid.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[1]
DROP = object()  # marks a key to delete in a case's changes


@pytest.fixture
def image_root(tmp_path):
    """Three tiny real PNGs, one of them in a subdirectory."""
    root = tmp_path / "images"
    (root / "cats").mkdir(parents=True)
    for name, color in (("cats/a.png", (255, 0, 0)), ("b.png", (0, 255, 0)), ("c.png", (0, 0, 255))):
        Image.new("RGB", (10, 8), color).save(root / name)
    return root


def minimal_config(image_root):
    return {
        "training_data": [
            {"file": "cats/a.png", "label": "cat"},
            {"file": "b.png", "label": "dog"},
            {"file": "c.png", "label": "dog", "weight": 2},
        ],
        "image_root": str(image_root),
        "input_image_shape": [32, 24, 3],
        "output_directory": "out",
        "image_network_candidates": [["simple", "randomly_initialize"]],
        "max_total_time": 60,
    }


def changed(config, changes):
    """A copy of `config` with `changes` applied: top-level keys, or "training_data[i].key"."""
    config = copy.deepcopy(config)
    for key, value in changes.items():
        target = config
        if key.startswith("training_data["):
            index, key = key[len("training_data["):].split("].")
            target = config["training_data"][int(index)]
        if value is DROP:
            del target[key]
        else:
            target[key] = value
    return config


def error_of(config, **kwargs):
    with pytest.raises(ConfigError) as caught:
        validate_train_config(config, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


NUMERIC_POINTS = [
    {"file": "cats/a.png", "label": 1},
    {"file": "b.png", "label": 2.5},
    {"file": "c.png", "label": -3},
]


def labels(*values):
    files = ["cats/a.png", "b.png", "c.png"]
    return [{"file": files[i % 3], "label": value} for i, value in enumerate(values)]


# (id, changes to the minimal config, substrings the message must contain: key, value, hint)
BAD_CONFIGS = [
    # plain keys: types and ranges
    ("batch_size-negative", {"batch_size": -5},
     ["batch_size: -5 is not allowed", "an integer from 1 to 8192"]),
    ("batch_size-float", {"batch_size": 1.0}, ["batch_size: 1.0", "an integer"]),
    ("batch_size-bool", {"batch_size": True}, ["batch_size: true", "an integer"]),
    ("batch_size-string", {"batch_size": "32"}, ['batch_size: "32"', "an integer"]),
    ("batch_size-too-big", {"batch_size": 8193}, ["batch_size: 8193", "1 to 8192"]),
    ("batch_size-null", {"batch_size": None}, ["batch_size: null", "1 to 8192"]),
    ("balance_objective", {"balance_objective": 1}, ["balance_objective: 1", "true or false"]),
    ("descent_algorithm", {"descent_algorithm": "adm"},
     ['descent_algorithm: "adm"', 'did you mean "adam"?', "rms_prop, sgd"]),
    ("learning_rate-zero", {"learning_rate": 0}, ["learning_rate: 0", "greater than 0"]),
    ("learning_rate-string", {"learning_rate": "5"}, ['learning_rate: "5"', "a number"]),
    ("learning_rate-nan", {"learning_rate": float("nan")}, ["learning_rate: NaN", "a number"]),
    ("warmup", {"learning_rate_warmup_iterations": -1},
     ["learning_rate_warmup_iterations: -1", "an integer >= 0"]),
    ("holdout_set_size", {"holdout_set_size": 0}, ["holdout_set_size: 0", "1 to 8192"]),
    ("loss_function-unknown", {"loss_function": "l2"},
     ['loss_function: "l2"', "crossentropy", "mean_squared_error"]),
    ("max_data_size", {"max_data_size": -1}, ["max_data_size: -1", "an integer >= 0"]),
    ("rescale_type", {"rescale_type": "stretch"},
     ['rescale_type: "stretch"', "one of warp, pad, crop"]),
    ("patience", {"patience": 0}, ["patience: 0", "1 to 8192"]),
    ("max_seconds_per_update", {"max_seconds_per_update": -1},
     ["max_seconds_per_update: -1", "greater than 0"]),
    ("seed", {"seed": 2**31}, ["seed: 2147483648", "0 to 2147483647"]),
    ("label_smoothing_factor", {"label_smoothing_factor": 0.6},
     ["label_smoothing_factor: 0.6", "0 to 0.5"]),
    ("weight_averaging", {"weight_averaging": 1},
     ["weight_averaging: 1", "a number from 0 up to but not including 1"]),
    ("cheat_on_validation", {"cheat_on_validation": "yes"},
     ['cheat_on_validation: "yes"', "true or false"]),
    ("max_iterations", {"max_iterations": 0}, ["max_iterations: 0", ">= 1, or null"]),
    ("layers-no-type", {"layers": [{"units": 2}]}, ['layers[0]: {"units": 2}', 'string "type"']),
    ("layers-empty", {"layers": []}, ["layers: []", "non-empty list"]),
    ("layers-string", {"layers": "dense"}, ['layers: "dense"', "layer objects"]),
    ("beta1", {"beta1": 1}, ["beta1: 1", "from 0 up to but not including 1"]),
    ("beta2", {"beta2": -0.1}, ["beta2: -0.1", "not including 1"]),
    ("epsilon", {"epsilon": 0}, ["epsilon: 0", "greater than 0"]),
    ("momentum", {"momentum": 1.5}, ["momentum: 1.5", "from 0 to 1"]),
    ("rho", {"rho": -1}, ["rho: -1", "from 0 to 1"]),
    ("init_accumulator", {"init_accumulator": -1}, ["init_accumulator: -1", ">= 0"]),
    ("l1_regularization", {"l1_regularization": -1}, ["l1_regularization: -1", ">= 0"]),
    ("l2_regularization", {"l2_regularization": "0"}, ['l2_regularization: "0"', ">= 0"]),
    ("learning_rate_power", {"learning_rate_power": 0.5},
     ["learning_rate_power: 0.5", "from -1 to 0"]),
    # optimizer settings the descent_algorithm does not use
    ("rho-with-adam", {"rho": 0.9},
     ['rho: 0.9 is not used by descent_algorithm "adam", which takes beta1, beta2, epsilon']),
    ("beta1-with-sgd", {"descent_algorithm": "sgd", "beta1": 0.5},
     ['beta1: 0.5 is not used by descent_algorithm "sgd", which takes momentum']),
    ("epsilon-with-ftrl", {"descent_algorithm": "ftrl", "epsilon": 1e-8},
     ['epsilon: 1e-08 is not used by descent_algorithm "ftrl"', "learning_rate_power"]),
    ("zero-is-still-given", {"descent_algorithm": "adagrad", "momentum": 0},
     ['momentum: 0.0 is not used by descent_algorithm "adagrad", which takes init_accumulator']),
    # readout layers, checked before any image is read
    ("layers-unknown-type", {"layers": [{"type": "conv"}]},
     ['layers[0].type: "conv" is not allowed', "dense, activation, batch_normalization"]),
    ("layers-image-layer", {"layers": [{"type": "max_pool_2d"}]},
     ['layers[0].type: "max_pool_2d" is not allowed']),
    ("layers-missing-nodes", {"layers": [{"type": "dense", "activation_function": "softmax"}]},
     ["layers[0]: a dense layer needs the key 'number_of_nodes'"]),
    ("layers-bad-nodes", {"layers": [{"type": "dense", "number_of_nodes": "2"}]},
     ['layers[0].number_of_nodes: "2" is not allowed', "an integer from 1"]),
    ("layers-unknown-key", {"layers": [{"type": "dense", "number_of_nodes": 2, "units": 2}]},
     ["layers[0].units: is not a key of a dense layer", "number_of_nodes, weights"]),
    ("layers-bad-initializer", {"layers": [{"type": "dense", "number_of_nodes": 2, "weights": "he_normal"}]},
     ['layers[0].weights: "he_normal" is not allowed', "glorot_uniform"]),
    ("layers-weights-as-lists", {"layers": [{"type": "dense", "number_of_nodes": 2, "weights": [[1, 2]]}]},
     ["layers[0].weights: [[1, 2]] is not allowed"]),
    ("layers-bad-activation", {"layers": [{"type": "dense", "number_of_nodes": 2, "activation_function": "sofmax"}]},
     ['layers[0].activation_function: "sofmax" is not allowed', "softmax"]),
    ("layers-block-dropout", {"layers": [{"type": "dropout", "dropout_type": "block", "rate": 0.1}]},
     ['layers[0].dropout_type: "block" is not allowed', '"zero", "alpha"']),
    ("layers-rate", {"layers": [{"type": "dropout", "dropout_type": "zero", "rate": 1}]},
     ["layers[0].rate: 1 is not allowed"]),
    ("layers-nested-block", {"layers": [
        {"type": "dense_residual_block", "dense_path": [{"type": "dense_residual_block", "dense_path": []}]},
        {"type": "dense", "number_of_nodes": 2, "activation_function": "softmax"}]},
     ['layers[0].dense_path[0].type: "dense_residual_block" is not allowed']),
    ("layers-block-last", {"layers": [
        {"type": "dense", "number_of_nodes": 2, "activation_function": "softmax"},
        {"type": "dense_residual_block", "dense_path": [{"type": "dense", "number_of_nodes": 2}]}]},
     ["layers[1]: a dense_residual_block cannot be the last layer"]),
    ("layers-wrong-count", {"layers": [{"type": "dense", "number_of_nodes": 3, "activation_function": "softmax"}]},
     ["layers[0].number_of_nodes: 3 is not allowed", "the objective needs 2 (one per class)"]),
    ("layers-no-dense", {"layers": [{"type": "activation", "activation_function": "softmax"}]},
     ["layers: no dense layer sets the number of outputs; the objective needs 2"]),
    ("layers-linear-crossentropy", {"layers": [{"type": "dense", "number_of_nodes": 2}]},
     ['layers: the readout ends with the activation "linear", but loss_function "crossentropy" needs "softmax"']),
    ("layers-relu-after-softmax", {"loss_function": "hinge", "layers": [
        {"type": "dense", "number_of_nodes": 2, "activation_function": "softmax"},
        {"type": "activation", "activation_function": "relu"}]},
     ['ends with the activation "relu", but loss_function "hinge" needs "softmax"']),
    ("layers-numeric-softmax", {"training_data": NUMERIC_POINTS,
                                "layers": [{"type": "dense", "number_of_nodes": 1, "activation_function": "sigmoid"}]},
     ['ends with the activation "sigmoid", but loss_function "mean_squared_error" needs "linear"']),
    ("layers-numeric-count", {"training_data": NUMERIC_POINTS,
                              "layers": [{"type": "dense", "number_of_nodes": 2}]},
     ["layers[0].number_of_nodes: 2 is not allowed", "needs 1 (a numeric objective has one)"]),
    ("objective_type-unknown", {"objective_type": "triplet"},
     ['objective_type: "triplet"', "categorical, numeric"]),
    ("augmentation_seed", {"augmentation_seed": -1},
     ["augmentation_seed: -1", "0 to 2147483647, or null"]),
    # required keys
    ("missing-image_root", {"image_root": DROP}, ['missing required key "image_root"']),
    ("missing-training_data", {"training_data": DROP}, ['missing required key "training_data"']),
    ("missing-max_total_time", {"max_total_time": DROP},
     ['missing required key "max_total_time"']),
    ("missing-candidates", {"image_network_candidates": DROP},
     ['missing required key "image_network_candidates"']),
    ("max_total_time-zero", {"max_total_time": 0}, ["max_total_time: 0", "greater than 0"]),
    ("max_total_time-string", {"max_total_time": "60"}, ['max_total_time: "60"', "a number"]),
    ("image_root-number", {"image_root": 5}, ["image_root: 5", "a string"]),
    ("image_root-absent-dir", {"image_root": "no/such/dir"},
     ['image_root: "no/such/dir" is not an existing directory']),
    ("output_directory-empty", {"output_directory": ""},
     ['output_directory: ""', "non-empty string"]),
    ("output_directory-list", {"output_directory": ["out"]}, ['output_directory: ["out"]']),
    ("shape-too-small", {"input_image_shape": [4, 32, 3]},
     ["input_image_shape: [4, 32, 3]", "integers from 8 to 4096"]),
    ("shape-too-big", {"input_image_shape": [32, 5000, 3]},
     ["input_image_shape: [32, 5000, 3]", "8 to 4096"]),
    ("shape-channels", {"input_image_shape": [32, 32, 4]},
     ["input_image_shape: [32, 32, 4]", "[width, height, 3]"]),
    ("shape-two", {"input_image_shape": [32, 32]},
     ["input_image_shape: [32, 32]", "[width, height, 3]"]),
    ("shape-float", {"input_image_shape": [32.0, 32, 3]},
     ["input_image_shape[0]: 32.0", "[width, height, 3]"]),
    ("shape-string", {"input_image_shape": "32x32"},
     ['input_image_shape: "32x32"', "[width, height, 3]"]),
    # unknown keys
    ("unknown-near-miss", {"batch_szie": 3}, ['unknown key "batch_szie"; did you mean "batch_size"?']),
    ("unknown-far", {"colour_space": "rgb"}, ['unknown key "colour_space"', "not a pyramid_train"]),
    # training_data
    ("training_data-empty", {"training_data": []}, ["training_data: []", "non-empty list"]),
    ("training_data-object", {"training_data": {"file": "b.png"}},
     ['training_data: {"file": "b.png"}', "list of training points"]),
    ("point-not-object", {"training_data": ["b.png"]},
     ['training_data[0]: "b.png"', "objects with keys file, label and weight"]),
    ("point-file-empty", {"training_data[1].file": ""},
     ['training_data[1].file: ""', "non-empty string"]),
    ("point-file-number", {"training_data[1].file": 7}, ["training_data[1].file: 7", "string"]),
    ("point-file-missing-key", {"training_data[2].file": DROP},
     ['training_data[2]: missing required key "file"']),
    ("point-file-absent", {"training_data[2].file": "cats/zzz.png"},
     ['training_data[2].file: "cats/zzz.png" is not an existing file', "image_root"]),
    ("point-file-is-dir", {"training_data[0].file": "cats"},
     ['training_data[0].file: "cats" is not an existing file']),
    ("point-label-bool", {"training_data[1].label": True},
     ["training_data[1].label: true", "a string (categorical) or a number (numeric)"]),
    ("point-label-null", {"training_data[1].label": None},
     ["training_data[1].label: null", "a string (categorical) or a number"]),
    ("point-label-list", {"training_data[0].label": ["cat"]},
     ['training_data[0].label: ["cat"]', "a string (categorical)"]),
    ("point-label-missing", {"training_data[1].label": DROP},
     ['training_data[1]: missing required key "label"']),
    ("point-label-huge", {"training_data[0].label": 10**400},
     ["training_data[0].label: 1000", "a number (numeric)"]),
    ("point-weight-zero", {"training_data[2].weight": 0},
     ["training_data[2].weight: 0", "greater than 0"]),
    ("point-weight-string", {"training_data[2].weight": "1"},
     ['training_data[2].weight: "1"', "a number"]),
    ("point-weight-bool", {"training_data[0].weight": True},
     ["training_data[0].weight: true", "a number"]),
    ("point-unknown-near", {"training_data[1].wieght": 1},
     ['training_data[1]: unknown key "wieght"; did you mean "weight"?']),
    ("point-unknown-far", {"training_data[1].colour": "red"},
     ['training_data[1]: unknown key "colour"', "file, label, weight"]),
    ("labels-mixed", {"training_data": labels("cat", "dog", 3)},
     ["training_data[2].label: 3 is a number", "training_data[0..1]", "strings (categorical)",
      "all numbers (numeric)"]),
    ("labels-mixed-second", {"training_data": labels(1, "dog")},
     ['training_data[1].label: "dog" is a string', "training_data[0] are numbers (numeric)"]),
    ("labels-one-class", {"training_data": labels("cat", "cat")},
     ['every label is "cat"', "at least 2 distinct classes"]),
    ("objective_type-mismatch", {"objective_type": "numeric"},
     ['objective_type: "numeric" does not match the labels', "strings (categorical)",
      'use "categorical"']),
    # losses and smoothing against the objective
    ("loss-numeric-for-categorical", {"loss_function": "huber"},
     ['loss_function: "huber" is for numeric objectives, but the labels are strings '
      "(categorical); use one of crossentropy, hinge, kl_divergence, cosine"]),
    ("loss-categorical-for-numeric",
     {"training_data": NUMERIC_POINTS, "loss_function": "crossentropy"},
     ['loss_function: "crossentropy" is for categorical objectives', "numbers (numeric)",
      "use one of mean_squared_error, huber, mean_percentage_error"]),
    ("smoothing-numeric", {"training_data": NUMERIC_POINTS, "label_smoothing_factor": 0.1},
     ["label_smoothing_factor: 0.1", "numeric", "use 0"]),
    # candidates
    ("candidates-empty", {"image_network_candidates": []},
     ["image_network_candidates: []", "non-empty list of [topology, method] pairs"]),
    ("candidates-single", {"image_network_candidates": [["simple"]]},
     ['image_network_candidates[0]: ["simple"]', "[topology, method] pairs"]),
    ("candidates-string", {"image_network_candidates": ["simple"]},
     ['image_network_candidates[0]: "simple"', "[topology, method] pairs"]),
    ("candidates-number", {"image_network_candidates": [["simple", 1]]},
     ["image_network_candidates[0][1]: 1", "pairs of strings"]),
    ("candidates-topology",
     {"image_network_candidates": [["simple", "randomly_initialize"],
                                   ["resnet50", "randomly_initialize"]]},
     ['image_network_candidates[1][0]: "resnet50"', 'did you mean "resnet18"?',
      "one of simple, simple_residual, mobilenet, mobilenetv2, resnet18"]),
    ("candidates-method", {"image_network_candidates": [["mobilenet", "random"]]},
     ['image_network_candidates[0][1]: "random"', "randomly_initialize, fine_tune, use_pretrained"]),
    ("candidates-simple-pretrained", {"image_network_candidates": [["simple", "fine_tune"]]},
     ['image_network_candidates[0]: ["simple", "fine_tune"]', "no pretrained weights",
      '"randomly_initialize"']),
    ("candidates-residual-pretrained",
     {"image_network_candidates": [["simple_residual", "use_pretrained"]]},
     ['image_network_candidates[0]: ["simple_residual", "use_pretrained"]',
      "no pretrained weights"]),
    ("candidates-duplicate",
     {"image_network_candidates": [["simple", "randomly_initialize"],
                                   ["mobilenet", "randomly_initialize"],
                                   ["simple", "randomly_initialize"]]},
     ['image_network_candidates[2]: ["simple", "randomly_initialize"] repeats '
      "image_network_candidates[0]", "once"]),
    ("candidates-initial-model-empty", {"image_network_candidates": [["initial_model", ""]]},
     ['image_network_candidates[0][1]: ""', "path"]),
    # augmentations
    ("augmentations-not-list", {"image_augmentations": "zoom"},
     ['image_augmentations: "zoom"', "a list of augmentation names"]),
    ("augmentations-not-string", {"image_augmentations": ["zoom", 5]},
     ["image_augmentations[1]: 5 is not allowed", "a list of augmentation names"]),
    ("augmentations-unknown", {"image_augmentations": ["zoom", "zom"]},
     ['image_augmentations[1]: unknown augmentation "zom"', 'did you mean "zoom"?', "blur"]),
    ("augmentations-unknown-alias", {"image_augmentations": ["flip_horizontl"]},
     ['image_augmentations[0]: unknown augmentation "flip_horizontl"',
      'did you mean "flip_horizontal"?']),
    ("augmentations-unknown-under-ranges",  # the list is ignored, but still checked
     {"image_augmentations": ["blurr"], "augmentation_ranges": {"blur": 0.5}},
     ['image_augmentations[0]: unknown augmentation "blurr"', 'did you mean "blur"?']),
    ("augmentations-repeated", {"image_augmentations": ["zoom", "blur", "zoom"]},
     ['image_augmentations[2]: "zoom" repeats image_augmentations[0] "zoom"',
      "each augmentation may appear once"]),
    ("augmentations-repeated-alias", {"image_augmentations": ["horizontal_flip", "flip_horizontal"]},
     ['image_augmentations[1]: "flip_horizontal" repeats image_augmentations[0] '
      '"horizontal_flip" (the same augmentation); each augmentation may appear once']),
    ("augmentations-repeated-under-ranges",
     {"image_augmentations": ["flip_vertical", "vertical_flip"], "augmentation_ranges": {"zoom": 0.2}},
     ['image_augmentations[1]: "vertical_flip" repeats image_augmentations[0] "flip_vertical"']),
    ("ranges-not-dict", {"augmentation_ranges": ["zoom"]},
     ['augmentation_ranges: ["zoom"]', "an object mapping augmentation names"]),
    ("ranges-unknown", {"augmentation_ranges": {"rotaton": 5}},
     ['augmentation_ranges: unknown augmentation "rotaton"', 'did you mean "rotation"?', "zoom"]),
    ("ranges-repeated-alias", {"augmentation_ranges": {"flip_vertical": True, "vertical_flip": None}},
     ['augmentation_ranges: "vertical_flip" repeats "flip_vertical" (the same augmentation); '
      "each augmentation may appear once"]),
    ("ranges-string", {"augmentation_ranges": {"zoom": "big"}},
     ['augmentation_ranges.zoom: "big" is not allowed; expected a number from 0 to 0.9 or null']),
    ("ranges-numeric-string", {"augmentation_ranges": {"blur": "0.5"}},
     ['augmentation_ranges.blur: "0.5" is not allowed; expected a number from 0 to 0.95 or null']),
    ("ranges-true-for-numeric", {"augmentation_ranges": {"cutout": True}},
     ["augmentation_ranges.cutout: true is not allowed; expected a number from 0 to 1 or null"]),
    ("ranges-false-for-numeric", {"augmentation_ranges": {"tint": False}},
     ["augmentation_ranges.tint: false is not allowed; expected a number from 0 to 1 or null"]),
    ("ranges-too-big", {"augmentation_ranges": {"zoom": 0.2, "rotation": 181}},
     ["augmentation_ranges.rotation: 181 is not allowed; expected a number from 0 to 180 or null"]),
    ("ranges-too-big-fraction", {"augmentation_ranges": {"deform": 0.51}},
     ["augmentation_ranges.deform: 0.51 is not allowed; expected a number from 0 to 0.5 or null"]),
    ("ranges-negative", {"augmentation_ranges": {"brightness": -0.1}},
     ["augmentation_ranges.brightness: -0.1 is not allowed; expected a number from 0 to 1 or null"]),
    ("ranges-nan", {"augmentation_ranges": {"glare": float("nan")}},
     ["augmentation_ranges.glare: NaN is not allowed", "a number from 0 to 1 or null"]),
    ("ranges-list", {"augmentation_ranges": {"shear": [5]}},
     ["augmentation_ranges.shear: [5] is not allowed; expected a number from 0 to 80 or null"]),
    # keys of later releases still get their values checked
    ("initial_model-number", {"initial_model": 5}, ["initial_model: 5", "string"]),
    ("anchors-shape", {"bounding_box_anchors": [[10]]},
     ["bounding_box_anchors[0]: [10]", "[width, height] pairs"]),
    ("anchors-float", {"bounding_box_anchors": [[10, 2.5]]},
     ["bounding_box_anchors[0][1]: 2.5", "positive integers"]),
    ("strict_boxes", {"strict_boxes": "yes"}, ['strict_boxes: "yes"', "true, false or null"]),
]


@pytest.mark.parametrize(
    "changes, expected", [case[1:] for case in BAD_CONFIGS], ids=[case[0] for case in BAD_CONFIGS]
)
def test_bad_config_is_one_line_naming_key_value_and_hint(image_root, changes, expected):
    message = error_of(changed(minimal_config(image_root), changes))
    for part in expected:
        assert part in message


# (id, changes, the subject of the "is not supported yet" line)
def detection_config(image_root, **changes):
    """A valid object detection config over the three test images (10x8 pixels)."""
    config = changed(minimal_config(image_root), {
        "training_data": [
            {"file": "cats/a.png", "boxes": [[1, 1, 5, 6, "cat"], [4, 2, 9, 7, "dog"]]},
            {"file": "b.png", "boxes": []},
            {"file": "c.png", "boxes": [[0.5, 0, 10, 8, "dog"]], "weight": 2},
        ],
        "input_image_shape": [64, 64, 3],
        "image_network_candidates": [["tinyyolov4", "randomly_initialize"]],
    })
    return changed(config, changes)


BAD_DETECTION = [
    ("x2-not-after-x1", {"training_data[0].boxes": [[5, 1, 5, 6, "cat"]]},
     'training_data[0].boxes[0]: [5, 1, 5, 6, "cat"] is not allowed; x2 (5) must be greater than x1 (5)'),
    ("y2-before-y1", {"training_data[2].boxes": [[1, 6, 5, 2, "cat"]]},
     "training_data[2].boxes[0]: [1, 6, 5, 2, \"cat\"] is not allowed; y2 (2) must be greater than y1 (6)"),
    ("string-coordinate", {"training_data[0].boxes": [[1, "1", 5, 6, "cat"]]},
     'training_data[0].boxes[0][1]: "1" is not allowed; expected a number (y1, in the image\'s pixels)'),
    ("bool-coordinate", {"training_data[0].boxes": [[1, 1, True, 6, "cat"]]},
     "training_data[0].boxes[0][2]: true is not allowed; expected a number (x2"),
    ("number-label", {"training_data[0].boxes": [[1, 1, 5, 6, 3]]},
     "training_data[0].boxes[0][4]: 3 is not allowed; expected a non-empty string (the object's label)"),
    ("short-box", {"training_data[0].boxes": [[1, 1, 5, 6]]},
     'training_data[0].boxes[0]: [1, 1, 5, 6] is not allowed; expected [x1, y1, x2, y2, "label"]'),
    ("boxes-and-label", {"training_data[1].label": "dog"},
     'training_data[1]: a point has "label" (classification, regression) or "boxes" (object detection), not both'),
    ("label-among-boxes", {"training_data[1].boxes": DROP, "training_data[1].label": "dog"},
     'training_data[1]: has "label", but training_data[0] has "boxes"; the points of one problem all have labels'),
    ("missing-boxes", {"training_data[1].boxes": DROP},
     'training_data[1]: missing required key "boxes" (training_data[0] has boxes'),
    ("no-box-at-all", {"training_data[0].boxes": [], "training_data[2].boxes": []},
     "training_data: no point has a box; object detection needs at least one"),
    ("classifier-with-boxes", {"image_network_candidates": [["simple", "randomly_initialize"]]},
     'image_network_candidates[0][0]: "simple" is a classification network, but the training points have boxes; object detection uses one of tinyyolov4, yolov4'),
    ("non-square", {"input_image_shape": [64, 96, 3]},
     "input_image_shape: [64, 96, 3] is not allowed for object detection; YOLO needs a square input whose side is a multiple of 32"),
    ("not-a-multiple-of-32", {"input_image_shape": [100, 100, 3]},
     "a multiple of 32 (sensenet's grids), e.g. [96, 96, 3]"),
    ("loss_function", {"loss_function": "crossentropy"},
     'loss_function: "crossentropy" is not allowed for object detection: the loss of object detection is YOLO\'s own'),
    ("rescale_type", {"rescale_type": "crop"},
     'rescale_type: "crop" is not allowed for object detection: sensenet rescales every image of a detector with "pad"'),
    ("layers", {"layers": [{"type": "dense", "number_of_nodes": 2}]},
     "layers: [{\"type\": \"dense\", \"number_of_nodes\": 2}] is not allowed for object detection: a YOLO network has no readout layers"),
    ("balance_objective", {"balance_objective": True},
     "balance_objective: true is not allowed for object detection"),
    ("anchor-count", {"bounding_box_anchors": [[10, 10], [20, 20]]},
     "bounding_box_anchors: 2 anchors are not allowed with image_network_candidates[0] (tinyyolov4), which needs 6 (3 per branch)"),
    ("anchor-not-positive", {"bounding_box_anchors": [[10, 0]] * 6},
     "bounding_box_anchors[0][1]: 0 is not allowed"),
    ("anchor-not-a-pair", {"bounding_box_anchors": [[10, 10, 10]] * 6},
     "bounding_box_anchors[0]: [10, 10, 10] is not allowed"),
    ("objective-numeric", {"objective_type": "numeric"},
     'objective_type: "numeric" does not match the training points, which have boxes'),
]


@pytest.mark.parametrize("changes, expected", [case[1:] for case in BAD_DETECTION],
                         ids=[case[0] for case in BAD_DETECTION])
def test_bad_detection_config_is_one_line_naming_key_value_and_hint(image_root, changes, expected):
    message = error_of(detection_config(image_root, **{}) if not changes else changed(detection_config(image_root), changes))
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize("changes, expected", [
    ({"image_network_candidates": [["yolov4", "fine_tune"]]},
     'image_network_candidates[0][0]: "yolov4" is an object detection network, but the training points have labels'),
    ({"strict_boxes": True}, "strict_boxes: true is not allowed; it is for object detection"),
    ({"bounding_box_anchors": [[10, 10]] * 6}, "bounding_box_anchors: [[10, 10], [10, 10]"),
    ({"objective_type": "bounding_box"}, 'training_data[0]: missing required key "boxes" (objective_type is "bounding_box"'),
], ids=["detector-with-labels", "strict_boxes", "anchors", "declared-bounding_box"])
def test_detection_keys_need_boxes(image_root, changes, expected):
    assert expected in error_of(changed(minimal_config(image_root), changes))


def test_a_detection_config_is_accepted_with_its_defaults(image_root):
    config = validate_train_config(detection_config(
        image_root, bounding_box_anchors=[[8, 8], [16, 16], [24, 24], [32, 32], [40, 40], [48, 60]],
        strict_boxes=True, label_smoothing_factor=0.1,
    ))
    assert config.objective_type == "bounding_box"
    assert config.rescale_type == "pad" and config.loss_function is None
    assert config.classes == ["cat", "dog"]
    assert config.labels[0] == [[1, 1, 5, 6, "cat"], [4, 2, 9, 7, "dog"]] and config.labels[1] == []
    both = validate_train_config(detection_config(
        image_root, rescale_type="pad", objective_type="bounding_box",
        image_network_candidates=[["tinyyolov4", "fine_tune"], ["yolov4", "use_pretrained"]],
    ))
    assert both.candidates == [("tinyyolov4", "fine_tune"), ("yolov4", "use_pretrained")]


def test_minimal_config_gets_every_default(image_root):
    config = validate_train_config(minimal_config(image_root))
    assert isinstance(config, TrainConfig)
    defaults = {
        "batch_size": 32,
        "balance_objective": False,
        "descent_algorithm": "adam",
        "learning_rate": 0.001,
        "learning_rate_warmup_iterations": 0,
        "holdout_set_size": 4096,
        "holdout_rate": 0.2,
        "loss_function": "crossentropy",
        "max_data_size": 1073741824,
        "rescale_type": "crop",
        "patience": 10,
        "max_seconds_per_update": 16,
        "seed": 42,
        "label_smoothing_factor": 0,
        "cheat_on_validation": False,
        "max_iterations": None,
        "layers": None,
        "objective_type": "categorical",
        "augmentation_seed": None,
        "beta1": None,
        "beta2": None,
        "epsilon": None,
        "momentum": None,
        "rho": None,
        "init_accumulator": None,
        "l1_regularization": None,
        "l2_regularization": None,
        "learning_rate_power": None,
        "image_augmentations": [],
        "augmentation_ranges": {},
        "initial_model": None,
        "pretrained_weights_directory": None,
        "precision": "auto",
        "jit_compile": False,
        "augmentation_placement": "input",
        "weight_averaging": 0.999,
        "bounding_box_anchors": None,
        "strict_boxes": None,
    }
    assert {key: getattr(config, key) for key in defaults} == defaults
    assert set(TrainConfig.model_fields) == set(defaults) | {
        "training_data", "image_root", "input_image_shape", "output_directory",
        "image_network_candidates", "max_total_time",
    }
    assert config.loss == "crossentropy"
    assert config.max_total_time == 60.0
    assert config.image_shape_hw == (24, 32)
    assert config.candidates == [("simple", "randomly_initialize")]
    assert config.augmentations == {}


def test_derived_lists_follow_training_data_order(image_root):
    config = validate_train_config(minimal_config(image_root))
    assert config.weights == [1.0, 1.0, 2.0]
    assert all(isinstance(weight, float) for weight in config.weights)
    assert config.labels == ["cat", "dog", "dog"]
    assert config.classes == ["cat", "dog"]
    assert config.image_paths == [
        os.path.join(str(image_root), name) for name in ("cats/a.png", "b.png", "c.png")
    ]
    assert all(os.path.isabs(path) for path in config.image_paths)


def test_classes_are_sorted_and_distinct(image_root):
    data = changed(minimal_config(image_root), {"training_data": labels("zebra", "ant", "zebra")})
    config = validate_train_config(data)
    assert config.objective_type == "categorical"
    assert config.classes == ["ant", "zebra"]
    assert config.labels == ["zebra", "ant", "zebra"]


def test_numeric_labels_make_a_numeric_objective(image_root):
    config = validate_train_config(
        changed(minimal_config(image_root), {"training_data": NUMERIC_POINTS})
    )
    assert config.objective_type == "numeric"
    assert config.classes is None
    assert config.labels == [1.0, 2.5, -3.0]
    assert config.loss == config.loss_function == "mean_squared_error"


@pytest.mark.parametrize(
    "changes",
    [
        {"objective_type": "categorical", "loss_function": "kl_divergence"},
        {"training_data": NUMERIC_POINTS, "objective_type": "numeric", "loss_function": "huber"},
        {"image_augmentations": [], "augmentation_ranges": {}, "initial_model": None,
         "bounding_box_anchors": None, "strict_boxes": None, "layers": None,
         "max_iterations": None, "beta1": None, "augmentation_seed": None},
        {"layers": [{"type": "dense", "number_of_nodes": 2, "activation_function": "softmax"}],
         "max_iterations": 100, "label_smoothing_factor": 0.5, "beta1": 0, "epsilon": 1e-4},
        {"descent_algorithm": "ftrl", "learning_rate_power": -1, "init_accumulator": 0,
         "l1_regularization": 0.01, "l2_regularization": 0},
        {"descent_algorithm": "rms_prop", "rho": 0.8, "momentum": 0.5, "epsilon": 1e-6},
        {"layers": [
            {"type": "dense", "number_of_nodes": 8, "activation_function": "relu", "seed": 3},
            {"type": "batch_normalization", "epsilon": 0.01},
            {"type": "dropout", "dropout_type": "zero", "rate": 0.2},
            {"type": "dense_residual_block", "activation_function": "relu", "identity_path": [],
             "dense_path": [{"type": "dense", "number_of_nodes": 8, "weights": "glorot_normal"},
                            {"type": "activation", "activation_function": "mish"},
                            {"type": "dense", "number_of_nodes": 8, "offset": "ones"}]},
            {"type": "dense", "number_of_nodes": 2},
            {"type": "activation", "activation_function": "softmax"},
        ]},
        {"image_network_candidates": [["simple", "randomly_initialize"],
                                      ["simple_residual", "randomly_initialize"],
                                      ["mobilenet", "randomly_initialize"],
                                      ["mobilenetv2", "randomly_initialize"],
                                      ["resnet18", "randomly_initialize"]]},
    ],
    ids=["explicit-categorical", "explicit-numeric", "nulls-and-empties", "optional-values",
         "ftrl-settings", "rms_prop-settings", "every-readout-layer-type", "every-topology"],
)
def test_good_optional_values_are_accepted(image_root, changes):
    data = changed(minimal_config(image_root), changes)
    config = validate_train_config(data)
    for key, value in changes.items():
        if key != "training_data":
            assert getattr(config, key) == value


# (id, changes, the active augmentations {name: n} they give)
GOOD_AUGMENTATIONS = [
    ("none", {}, {}),
    ("empty", {"image_augmentations": [], "augmentation_ranges": {}}, {}),
    ("list-defaults", {"image_augmentations": ["cutout", "horizontal_flip", "zoom"]},
     {"cutout": 0.25, "horizontal_flip": 1.0, "zoom": 0.1}),
    ("list-degrees", {"image_augmentations": ["rotation", "shear"]},
     {"rotation": 10.0, "shear": 10.0}),
    ("list-aliases", {"image_augmentations": ["flip_horizontal", "flip_vertical", "color_invert"]},
     {"horizontal_flip": 1.0, "vertical_flip": 1.0, "color_invert": 1.0}),
    ("readme-example", {"augmentation_ranges": {"cutout": None, "horizontal_flip": True, "zoom": 0.2}},
     {"cutout": 0.25, "horizontal_flip": 1.0, "zoom": 0.2}),
    ("ranges-aliases", {"augmentation_ranges": {"flip_horizontal": True, "flip_vertical": 1}},
     {"horizontal_flip": 1.0, "vertical_flip": 1.0}),
    ("ranges-win-over-list",
     {"image_augmentations": ["blur", "rotation"], "augmentation_ranges": {"zoom": 0.3}},
     {"zoom": 0.3}),
    ("ranges-win-even-all-off",
     {"image_augmentations": ["blur"], "augmentation_ranges": {"blur": 0}}, {}),
    ("empty-ranges-leave-the-list",  # {} is the same as no augmentation_ranges
     {"image_augmentations": ["blur"], "augmentation_ranges": {}}, {"blur": 0.5}),
    ("null-is-default",
     {"augmentation_ranges": {"rotation": None, "gaussian_noise": None, "color_invert": None,
                              "flip_vertical": None}},
     {"rotation": 10.0, "gaussian_noise": 0.1, "color_invert": 1.0, "vertical_flip": 1.0}),
    ("false-and-zero-are-off",
     {"augmentation_ranges": {"zoom": 0, "blur": 0.0, "horizontal_flip": False,
                              "flip_vertical": 0, "color_invert": "", "tint": 0.05}},
     {"tint": 0.05}),
    ("any-truthy-value-for-booleans",
     {"augmentation_ranges": {"color_invert": "yes", "horizontal_flip": 2.5,
                              "vertical_flip": [0]}},
     {"color_invert": 1.0, "horizontal_flip": 1.0, "vertical_flip": 1.0}),
    ("largest-values",
     {"augmentation_ranges": {"rotation": 180, "shear": 80, "blur": 0.95, "deform": 0.5,
                              "zoom": 0.9, "brightness": 1}},
     {"rotation": 180.0, "shear": 80.0, "blur": 0.95, "deform": 0.5, "zoom": 0.9,
      "brightness": 1.0}),
]


@pytest.mark.parametrize(
    "changes, expected", [case[1:] for case in GOOD_AUGMENTATIONS],
    ids=[case[0] for case in GOOD_AUGMENTATIONS],
)
def test_augmentations_are_accepted(image_root, changes, expected):
    config = validate_train_config(changed(minimal_config(image_root), changes))
    assert config.augmentations == expected
    assert all(type(n) is float for n in config.augmentations.values())
    for key, value in changes.items():  # the keys themselves are kept as given
        assert getattr(config, key) == value


def test_every_augmentation_gets_its_default_from_the_list(image_root):
    names = list(registry.NAMES)
    config = validate_train_config(
        changed(minimal_config(image_root), {"image_augmentations": names})
    )
    assert config.augmentations == {
        name: registry.default_parameter(name) for name in names
    }
    assert len(config.augmentations) == 16


def test_augmentation_names_come_from_the_registry():
    assert config_module.AUGMENTATIONS == registry.NAMES
    assert config_module.AUGMENTATION_ALIASES == registry.ALIASES
    for name, (default, largest) in registry.NUMERIC.items():
        assert 0 < default <= largest


def test_augmentations_in_a_config_file(image_root, tmp_path):
    data = changed(minimal_config(image_root), {"augmentation_seed": 7})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data)[:-1] + ', "augmentation_ranges": '
                    '{"cutout": null, "flip_horizontal": true, "zoom": 0.2}}')
    config = load_train_config(path)
    assert config.augmentations == {"cutout": 0.25, "horizontal_flip": 1.0, "zoom": 0.2}
    assert config.augmentation_seed == 7


def test_relative_paths_resolve_against_the_config_file(image_root, tmp_path, monkeypatch):
    data = changed(minimal_config(image_root), {"image_root": "images", "output_directory": "out"})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_train_config(path)  # a Path works as well as a str
    assert config.image_root == str(image_root)
    assert config.output_directory == str(tmp_path / "out")
    assert config.image_paths[0] == os.path.join(str(image_root), "cats/a.png")

    # validate_train_config: against base_dir, else the current directory
    assert validate_train_config(data, base_dir=tmp_path).image_root == str(image_root)
    message = error_of(data)
    assert str(elsewhere / "images") in message


def test_load_relative_config_path(image_root, tmp_path, monkeypatch):
    data = changed(minimal_config(image_root), {"image_root": "images"})
    (tmp_path / "config.json").write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)
    assert load_train_config("config.json").image_root == str(image_root)


@pytest.mark.parametrize(
    "typo, meant",
    [("batch_szie", "batch_size"), ("learning_rat", "learning_rate"),
     ("image_rot", "image_root"), ("loss_fucntion", "loss_function"),
     ("image_augmentation", "image_augmentations"), ("max_total_tme", "max_total_time")],
)
def test_near_miss_keys_suggest_the_right_one(image_root, typo, meant):
    data = minimal_config(image_root)
    data[typo] = data.pop(meant, 1)  # a misspelt required key is reported as unknown first
    assert error_of(data) == 'unknown key "%s"; did you mean "%s"?' % (typo, meant)


def test_long_bad_values_are_shortened(image_root):
    data = changed(minimal_config(image_root), {"layers": [{"units": "x" * 500}]})
    message = error_of(data)
    shown = message[len("layers[0]: "):message.index(" is not allowed")]
    assert len(shown) <= 60 and shown.endswith("...")


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"batch_size": 3,\n "seed": }', ["is not valid JSON", "line 2, column 10"]),
        ("", ["is not valid JSON", "line 1, column 1"]),
        ("[1, 2]", ["must hold a JSON object", "not a list"]),
        ('"config"', ["must hold a JSON object", "not a string"]),
        ('{"seed": 1, "seed": 2}', ['key "seed" appears twice']),
    ],
    ids=["syntax", "empty", "list", "string", "duplicate-key"],
)
def test_unreadable_config_files(tmp_path, text, expected):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_train_config(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    for part in expected:
        assert part in message


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_train_config(tmp_path / "nope.json")
    assert "nope.json" in str(caught.value)
    with pytest.raises(ConfigError, match="is a directory"):
        load_train_config(tmp_path)


def test_a_byte_order_mark_is_tolerated(image_root, tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(minimal_config(image_root)).encode())
    assert load_train_config(path).batch_size == 32


def test_config_must_be_a_dict():
    with pytest.raises(ConfigError, match="JSON object"):
        validate_train_config([])
    assert issubclass(ConfigError, InputError)


def test_output_directory_may_not_be_a_file(image_root):
    data = changed(minimal_config(image_root), {"output_directory": str(image_root / "b.png")})
    assert "exists and is not a directory" in error_of(data)


def test_config_is_frozen_and_copies_recompute_derived_values(image_root):
    config = validate_train_config(minimal_config(image_root))
    with pytest.raises(ValidationError):
        config.batch_size = 64
    assert config.weights == [1.0, 1.0, 2.0]  # fills the cache
    fewer = config.model_copy(update={"training_data": config.training_data[:2]})
    assert fewer.weights == [1.0, 1.0]
    assert len(fewer.image_paths) == 2
    assert config.augmentations == {}  # fills the cache
    zoomed = config.model_copy(update={"image_augmentations": ["zoom"]})
    assert zoomed.augmentations == {"zoom": 0.1}


def run_module(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"batch_size": -5}, "pyramid_train: batch_size: -5 is not allowed"),
        ({"strict_boxes": True}, "pyramid_train: strict_boxes: true is not allowed; it is for object detection"),
    ],
    ids=["bad-value", "detection-key-with-labels"],
)
def test_train_command_reports_one_line_and_exits_2(image_root, tmp_path, changes, expected):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(changed(minimal_config(image_root), changes)))
    result = run_module("-m", "pyramid.commands.train", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert result.stderr.startswith(expected)
    assert "Traceback" not in result.stderr + result.stdout


def test_train_command_reports_a_broken_json_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"batch_size": 32,,}')
    result = run_module("-m", "pyramid.commands.train", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        'pyramid_train: config file "%s" is not valid JSON: Expecting property name enclosed '
        "in double quotes at line 1, column 19" % path
    ]


def test_config_module_does_not_import_tensorflow():
    result = run_module(
        "-c", "import sys, pyramid.config; print(sorted(m for m in sys.modules "
              "if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'sensenet')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_pretrained_methods_and_initial_models_are_accepted(image_root, tmp_path):
    model = tmp_path / "final_model.json"
    model.write_text("{}")
    changes = {
        "image_network_candidates": [["mobilenet", "fine_tune"], ["resnet18", "use_pretrained"],
                                     ["initial_model", str(model)]],
        "initial_model": str(model),
        "pretrained_weights_directory": str(tmp_path),
    }
    config = validate_train_config(changed(minimal_config(image_root), changes))
    # The top-level initial_model is tried too, but only once when it is also a candidate.
    assert config.candidates == [("mobilenet", "fine_tune"), ("resnet18", "use_pretrained"),
                                 ("initial_model", str(model))]
    assert config.pretrained_weights_directory == str(tmp_path)


def test_missing_initial_model_is_named(image_root):
    message = error_of(changed(minimal_config(image_root), {"initial_model": "nowhere/m.json"}))
    assert message.startswith('initial_model: "nowhere/m.json" is not an existing file')
    message = error_of(changed(minimal_config(image_root),
                               {"image_network_candidates": [["initial_model", "gone.json"]]}))
    assert message.startswith('image_network_candidates[0][1]: "gone.json" is not an existing file')
