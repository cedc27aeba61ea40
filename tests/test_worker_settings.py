"""The worker's job documents: every key of the earlier worker accepted, one definition with
pyramid_train for the keys both have, defaults, and one line naming the key for each error."""

import typing

import pytest

from pyramid.config import TrainConfig
from pyramid.errors import InputError
from pyramid.worker import settings
from pyramid.worker.settings import (
    KEYS, REQUIRED, SEARCH_CONFIGURATION, JobSettings, check_required, configuration_parameters,
    image_network, validate_document,
)

# Every key the earlier implementation's settings table accepted (earlier-implementation.md 2.2
# and 2.3, worker-jobs.md 5.2), besides the job's own routing keys.
EARLIER_KEYS = {
    "activation_function", "augmentation_ranges", "augmentation_seed", "background_augmentation_ranges",
    "background_image_augmentations", "background_image_root", "background_label", "balance_objective",
    "base_image_network", "batch_size", "beta1", "beta2", "bounding_box_anchors", "bounding_box_margin",
    "cache_file", "cache_rows", "cheat_on_validation", "class_weights", "color_space", "constant_box_label",
    "deepnet_version", "descent_algorithm", "dropout_rate", "empty_image_rate", "epsilon",
    "foreground_augmentation_ranges", "foreground_image_augmentations", "foreground_image_root",
    "generated_dataset_size", "holdout_rate", "holdout_set_size", "image_augmentations", "image_root",
    "image_training_data", "image_training_type", "info_list", "init_accumulator", "initial_model",
    "initial_network_metadata", "input_image_shape", "instance_weights", "is_search", "job_id", "job_type",
    "l1_regularization", "l2_regularization", "label_smoothing_factor", "largest_layer_size", "layers",
    "learn_residuals", "learning_rate", "learning_rate_power", "learning_rate_warmup_iterations",
    "logging_level", "loss_function", "max_data_size", "max_foreground_images", "max_iterations",
    "max_seconds_per_update", "max_training_time", "mixup_alpha", "model_fraction", "momentum",
    "number_of_layers", "objective_type", "occupancy_range", "output_directory", "parallelism", "patience",
    "random_background_rate", "rescale_type", "rescaled_names", "return_holdout_images", "rho", "seed",
    "start_time", "strict_boxes", "topology", "training_options", "tree_embedding", "tree_inputs",
}


def test_every_earlier_key_is_accepted():
    assert set(KEYS) == EARLIER_KEYS


def definition(field):
    """What a field accepts, whether or not it also takes null."""
    description = field.description.replace("true, false or null", "true or false").removesuffix(", or null")
    annotation = field.annotation
    members = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else (annotation,)
    accepted = [arg for arg in members if arg is not type(None)]
    return description, accepted, [repr(item) for item in field.metadata]


def test_keys_shared_with_pyramid_train_have_one_definition():
    shared = set(KEYS) & set(TrainConfig.model_fields)
    assert len(shared) >= 30
    for key in shared:
        assert definition(JobSettings.model_fields[key]) == definition(TrainConfig.model_fields[key]), key


def test_registry_and_required_keys_name_the_same_job_types():
    from pyramid.worker.jobs import JOB_TYPES

    assert set(REQUIRED) == set(JOB_TYPES)
    for keys in REQUIRED.values():
        assert set(keys) <= set(KEYS)


def test_defaults_and_zero_meaning_default():
    given = validate_document({"max_training_time": 0, "max_iterations": 0, "beta1": 0, "patience": None,
                               "holdout_rate": 0, "max_seconds_per_update": 0, "momentum": 0.0})
    assert given.max_training_time is None and given.max_iterations is None and given.beta1 is None
    assert (given.patience, given.holdout_rate, given.max_seconds_per_update) == (32, 0.2, 16.0)
    assert given.momentum is None  # 0 meant the optimizer's default before, too
    assert (given.rescale_type, given.return_holdout_images, given.model_fraction) == ("crop", False, 0.1)


@pytest.mark.parametrize("document, message", [
    ({"batch_size": 0}, "batch_size: 0 is not allowed; expected an integer from 1 to 8192, or null"),
    ({"batch_size": 32.0}, "batch_size: 32.0 is not allowed; expected an integer from 1 to 8192, or null"),
    ({"return_holdout_images": 1}, "return_holdout_images: 1 is not allowed; expected true, false or null"),
    ({"occupancy_range": ["a", 1]}, 'occupancy_range[0]: "a" is not allowed; expected a list of numbers, or null'),
    ({"max_total_time": 10}, 'unknown key "max_total_time"; it is a pyramid_train config key'),
    ({"training_data": []}, 'unknown key "training_data"; it is a pyramid_train config key'),
    ({"image_network_candidates": []}, 'unknown key "image_network_candidates"; it is a pyramid_train'),
    ({"augmentation_placement": "device"}, 'unknown key "augmentation_placement"; it is a pyramid_train '
                                            "config key (the worker augments in its input pipeline)"),
    ({"iou_threshold": 0.5}, 'unknown key "iou_threshold"; it is not a job document key'),
    ({"objective_type": "triplet"}, 'objective_type: "triplet" is not allowed; expected one of categorical, '
                                     "numeric, bounding_box, or null"),
    ({"beta1": 1.0}, "beta1: 1.0 is not allowed; expected a number from 0 up to but not including 1, or null"),
    ({"logging_level": 0}, "logging_level: 0 is not allowed; expected 1, 2 or 3 (2: progress lines), or null"),
    ({"input_image_shape": [32, 32, 1]}, "input_image_shape: [32, 32, 1] is not allowed; expected [width, "
                                         "height, 3]"),
    ({"max_foreground_images": 0}, "max_foreground_images: 0 is not allowed; expected an integer from 1 to 32"),
])
def test_a_bad_value_is_one_line_naming_the_key(document, message):
    with pytest.raises(InputError) as raised:
        validate_document(document)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_required_keys_are_per_job_type():
    base = {"objective_type": "categorical", "info_list": [{"type": "image", "index": 0}],
            "output_directory": "/tmp"}
    with pytest.raises(InputError, match='missing required key "base_image_network"; image_training jobs'):
        check_required(validate_document(base), "image_training", base)
    detection = dict(base, objective_type="bounding_box", base_image_network="tinyyolov4",
                     image_training_type="randomly_initialize", input_image_shape=[64, 64, 3], image_root="/tmp",
                     batch_size=8, learning_rate=0.01, descent_algorithm="adam", max_data_size=1, seed=1,
                     image_training_data=[])
    check_required(validate_document(detection), "image_training", detection)  # no layers, loss or cache_file
    with pytest.raises(InputError, match='"cache_rows"'):
        ser = dict(detection, image_training_data=None, cache_file="a.ser")
        check_required(validate_document(ser), "image_training", ser)
    with pytest.raises(InputError, match='"base_image_network"; finalize_output'):
        check_required(validate_document(base), "finalize_output", base)
    submodel = dict(base, job_id="s", cache_file="x.npy", layers=[{"type": "dense"}], batch_size=1,
                    learning_rate=0.1, descent_algorithm="adam", loss_function="crossentropy", seed=1)
    with pytest.raises(InputError, match='"activation_function"; search_submodel jobs echo'):
        check_required(validate_document(submodel), "search_submodel", submodel)
    echoed = dict({key: None for key in SEARCH_CONFIGURATION}, **submodel)
    check_required(validate_document(echoed), "search_submodel", echoed)  # present, null allowed


def test_search_configuration_is_echoed_with_its_types():
    values = {"activation_function": "relu", "balance_objective": True, "batch_size": 64, "descent_algorithm": "adam",
              "dropout_rate": 0.25, "loss_function": "crossentropy", "largest_layer_size": 256,
              "learn_residuals": False, "learning_rate": 0.01, "mixup_alpha": 0.2, "number_of_layers": 3,
              "seed": 9, "topology": "plain", "tree_embedding": True}
    assert list(values) == list(SEARCH_CONFIGURATION)
    assert configuration_parameters(validate_document(values)) == values


def test_base_image_network_names():
    def network(name, **more):
        return image_network(validate_document({"base_image_network": name, **more}))

    assert network("resnet18") == "resnet18"
    assert network("initial_model_0", initial_model="/models/final_model.json") == "initial_model"
    with pytest.raises(InputError, match='"initial_model_1" needs "initial_model"'):
        network("initial_model_1")
    with pytest.raises(InputError, match='"xception" is not allowed; expected one of simple'):
        network("xception")


def test_the_module_does_not_load_tensorflow():
    import subprocess
    import sys

    from conftest import CHECKOUT

    code = "import sys, pyramid.worker.settings; print('tensorflow' in sys.modules)"
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=CHECKOUT)
    assert finished.stdout.strip() == "False", finished.stderr
    assert settings.__doc__
