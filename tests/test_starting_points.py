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
from pyramid.train import fit
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


def image_weights_in(document):
    """(layer type, key, array) of every convolution and batch-norm weight of the image
    network in a final_model.json, in order."""
    weights = []
    for layer in document["image_network"]["layers"]:
        for key in WEIGHT_KEYS.get(layer["type"], ()):
            weights.append((layer["type"], key, np.array(layer[key], np.float32)))
    return weights


WEIGHT_KEYS = {
    "convolution_2d": ("kernel",),
    "depthwise_convolution_2d": ("kernel",),
    "batch_normalization": ("gamma", "beta", "mean", "variance"),
}


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

    ours = image_weights_in(final)
    # The file's image layers in order: convolutions (kernel) and batch norms (gamma, beta,
    # moving mean, moving variance); the readout's dense layers come last.
    stored = [array for name, arrays in pretrained.stored_layer_weights(path)
              if not name.startswith("dense") for array in arrays]
    assert len(ours) == len(stored) == 14 + 13 + 4 * 27
    assert sum(kind == "batch_normalization" for kind, _, _ in ours) == 4 * 27
    for (kind, key, array), theirs in zip(ours, stored):
        np.testing.assert_array_equal(array, theirs, err_msg="%s %s" % (kind, key))
    assert result.iterations == 30


class WeightsAtChecks:
    """Records the live model's image weights (convolutions and batch-norm statistics) at
    every holdout check, with the phase being trained, by wrapping the controller's check."""

    def __init__(self, monkeypatch, readout_arrays):
        self.records = []
        original = fit.TrainingController.check

        def check(controller):
            weights = controller.model.get_weights()[:-readout_arrays]
            self.records.append((controller.phase, controller.iterations, weights))
            return original(controller)

        monkeypatch.setattr(fit.TrainingController, "check", check)


def test_fine_tune_freezes_then_trains_the_convolutions(digits_dir, mobilenet_weights, tmp_path, monkeypatch):
    image_root, points = digits_dir
    directory, path = mobilenet_weights
    config = training_config(
        image_root, str(tmp_path / "out"), points, input_image_shape=[32, 32, 3],
        image_network_candidates=[["mobilenet", "fine_tune"]], patience=1, max_iterations=80,
        max_seconds_per_update=0.05, pretrained_weights_directory=directory,
    )
    # The default readout: two dense layers, a kernel and a bias each.
    recorder = WeightsAtChecks(monkeypatch, readout_arrays=4)
    train_candidates(validate_train_config(config))

    phases = [phase for phase, _, _ in recorder.records]
    assert phases[0] == 0 and phases.count(0) >= 2 and max(phases) >= 1
    loaded = recorder.records[0][2]  # the first check comes before any training
    stored = [array for name, arrays in pretrained.stored_layer_weights(path)
              if not name.startswith("dense") for array in arrays]
    assert len(loaded) == len(stored)
    for ours, theirs in zip(loaded, stored):
        np.testing.assert_array_equal(ours, theirs)
    for phase, iterations, weights in recorder.records:
        unchanged = all(np.array_equal(a, b) for a, b in zip(weights, loaded))
        # Phase 1 trains the readout only: every convolution and batch-norm statistic stays
        # as loaded; the later phases train them all.
        assert unchanged == (phase == 0), "phase %d, iteration %d" % (phase + 1, iterations)


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
    from pyramid.objectives.numeric import Numeric
    from sensenet.models.wrappers import create_model

    image_root, points = digits_dir
    points = [dict(p, label=float(p["digit"]) * 10) for p in points]
    train_candidates(validate_train_config(training_config(image_root, str(tmp_path / "a"), points, max_iterations=40)))
    model_path = str(tmp_path / "a" / "final_model.json")

    shifted = [dict(p, label=p["label"] * 3 + 7) for p in points]
    config = validate_train_config(training_config(image_root, str(tmp_path / "b"), shifted, initial_model=model_path))
    objective = Numeric(config.labels)
    built = BuiltModel(initial_document(model_path, objective, config))

    from sensenet.load import to_image_pixels

    pixels = np.stack([to_image_pixels(os.path.join(image_root, p["file"]), None) for p in points[:16]]).astype(np.float32)
    restarted = objective.predictions(built.keras_model.predict(pixels, verbose=0))
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
