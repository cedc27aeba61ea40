"""Training from pretrained weights (sensenet's cache layout) and from an earlier model."""

import copy
import json
import os

import numpy as np
import pytest

from conftest import training_config
from pyramid.config import validate_train_config
from pyramid.errors import WeightsError
from pyramid.nets import pretrained
from pyramid.train.run import train_candidates


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory):
    """A weights file written by sensenet itself for a randomly initialised mobilenet."""
    from sensenet.models.image import image_model
    from sensenet.pretrained import PRETRAINED_CNN_METADATA

    directory = tmp_path_factory.mktemp("weights")
    network = copy.deepcopy(PRETRAINED_CNN_METADATA["mobilenet"])
    for index, layer in enumerate(network["image_network"]["layers"]):
        layer["seed"] = index + 1  # distinct random weights per layer
    model = image_model(network, None)
    version = network["image_network"]["metadata"]["version"]
    path = str(directory / ("mobilenet_weights_%s.h5" % version))
    model.save_weights(path)
    return str(directory), path


def conv_kernels(document):
    return [layer["kernel"] for layer in document["image_network"]["layers"] if layer["type"] == "convolution_2d"]


def test_missing_weights_are_reported_before_training(digits_dir, tmp_path, monkeypatch):
    image_root, points = digits_dir
    monkeypatch.setenv(pretrained.ENVIRONMENT_VARIABLE, str(tmp_path / "empty"))
    config = validate_train_config(training_config(
        image_root, str(tmp_path / "out"), points, input_image_shape=[32, 32, 3],
        image_network_candidates=[["simple", "randomly_initialize"], ["mobilenet", "fine_tune"]],
    ))
    with pytest.raises(WeightsError) as error:
        train_candidates(config)
    message = str(error.value)
    assert "mobilenet_weights_208b4ec4.h5" in message and str(tmp_path / "empty") in message
    assert "pretrained_weights_directory" in message and pretrained.ENVIRONMENT_VARIABLE in message
    assert not os.path.exists(tmp_path / "out")


def test_use_pretrained_never_changes_the_pretrained_weights(digits_dir, mobilenet_weights, tmp_path):
    image_root, points = digits_dir
    directory, path = mobilenet_weights
    config = training_config(
        image_root, str(tmp_path / "out"), points, input_image_shape=[32, 32, 3],
        image_network_candidates=[["mobilenet", "use_pretrained"]], max_iterations=30, patience=1,
        pretrained_weights_directory=directory,
    )
    result = train_candidates(validate_train_config(config))
    with open(tmp_path / "out" / "final_model.json") as stream:
        final = json.load(stream)

    kernels = conv_kernels(final)
    stored = [weights[0] for name, weights in pretrained.stored_layer_weights(path) if name.startswith("conv2d")]
    assert len(kernels) == len(stored) == 14
    for ours, theirs in zip(kernels, stored):
        np.testing.assert_array_equal(np.array(ours, np.float32), theirs)
    assert result.iterations == 30


def test_fine_tune_freezes_then_trains_the_convolutions(digits_dir, mobilenet_weights, tmp_path):
    image_root, points = digits_dir
    directory, path = mobilenet_weights
    config = training_config(
        image_root, str(tmp_path / "out"), points, input_image_shape=[32, 32, 3],
        image_network_candidates=[["mobilenet", "fine_tune"]], patience=1, max_iterations=80,
        pretrained_weights_directory=directory,
    )
    result = train_candidates(validate_train_config(config))
    phases = {check["phase"] for check in result.checks}
    assert 2 in phases  # convolutions were released after phase 1
    with open(tmp_path / "out" / "final_model.json") as stream:
        final = json.load(stream)
    first_kernel = np.array(conv_kernels(final)[0])
    stored_first = pretrained.stored_layer_weights(path)[0][1][0]
    assert first_kernel.shape == stored_first.shape
    best_phase = max(result.checks, key=lambda check: check["likelihood"])["phase"]
    if best_phase > 1:
        assert not np.array_equal(first_kernel, stored_first)


def test_weights_of_another_topology_are_refused(digits_dir, mobilenet_weights, tmp_path):
    image_root, points = digits_dir
    directory, path = mobilenet_weights
    os.symlink(path, os.path.join(str(tmp_path), "resnet18_weights_cb5ddcb5.h5"))
    config = training_config(
        image_root, str(tmp_path / "out"), points, input_image_shape=[32, 32, 3],
        image_network_candidates=[["resnet18", "fine_tune"]], pretrained_weights_directory=str(tmp_path),
    )
    with pytest.raises(WeightsError, match="does not fit the network"):
        train_candidates(validate_train_config(config))


def test_initial_model_continues_from_the_trained_model(digits_dir, tmp_path):
    image_root, points = digits_dir
    first = training_config(image_root, str(tmp_path / "first"), points, max_iterations=150)
    earlier = train_candidates(validate_train_config(first))
    model_path = str(tmp_path / "first" / "final_model.json")

    second = training_config(
        image_root, str(tmp_path / "second"), points, max_iterations=5,
        image_network_candidates=[["initial_model", model_path]],
    )
    result = train_candidates(validate_train_config(second))
    # Same data, same holdout: the first check scores the earlier model's best weights.
    assert result.checks[0]["likelihood"] == pytest.approx(earlier.metrics["likelihood"], abs=1e-5)
    assert os.path.exists(tmp_path / "second" / "submodel_initial_model_0" / "model_fit_info.json")


def test_numeric_initial_model_is_rescaled_to_the_new_labels(digits_dir, tmp_path):
    """Trained on labels 0..20, restarted on labels shifted and stretched: the network's
    outputs change, its predictions in label units do not."""
    from pyramid.nets.initial_model import initial_document
    from pyramid.nets.model import BuiltModel
    from pyramid.train.objectives import Objective
    from sensenet.models.wrappers import create_model

    image_root, points = digits_dir
    points = [dict(p, label=float(p["digit"]) * 10) for p in points]
    train_candidates(validate_train_config(training_config(image_root, str(tmp_path / "a"), points, max_iterations=40)))
    model_path = str(tmp_path / "a" / "final_model.json")

    shifted = [dict(p, label=p["label"] * 3 + 7) for p in points]
    config = validate_train_config(training_config(image_root, str(tmp_path / "b"), shifted, initial_model=model_path))
    objective = Objective(config.labels, None)
    built = BuiltModel(initial_document(model_path, objective, config))

    from sensenet.load import to_image_pixels

    pixels = np.stack([to_image_pixels(os.path.join(image_root, p["file"]), None) for p in points[:16]]).astype(np.float32)
    restarted = objective.to_labels(built.keras_model.predict(pixels, verbose=0))
    original = create_model(model_path)._model.predict(pixels, verbose=0)[:, 0]
    np.testing.assert_allclose(restarted, original, rtol=1e-5, atol=1e-3)
    assert objective.mean != pytest.approx(np.mean([p["label"] for p in points]))


def test_initial_model_with_other_classes_is_refused(digits_dir, tmp_path):
    image_root, points = digits_dir
    train_candidates(validate_train_config(training_config(image_root, str(tmp_path / "a"), points, max_iterations=2)))
    fewer = [p for p in points if p["label"] != "2"]
    config = training_config(image_root, str(tmp_path / "b"), fewer, initial_model=str(tmp_path / "a" / "final_model.json"))
    with pytest.raises(WeightsError, match=r"has classes \['0', '1', '2'\], but the data has \['0', '1'\]"):
        train_candidates(validate_train_config(config))
