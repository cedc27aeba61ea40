"""The declarative tables (readout layers, optimizers, losses) agree with what they describe:
sensenet's layer constructors, Keras' optimizers and pyramid's losses."""

import numpy as np
import pytest

from pyramid.importers import keras
from pyramid.nets import readout_layers, topologies
from pyramid.nets.model import BuiltModel, network_document
from pyramid.train import loss_settings, optimizer_settings
from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric
from sensenet.layers.construct import LAYER_FUNCTIONS
from sensenet.layers.utils import INITIALIZERS, activation_function
from sensenet.models.wrappers import create_model

EVERY_READOUT_TYPE = [
    {"type": "dense", "number_of_nodes": 8, "activation_function": "relu", "seed": 3},
    {"type": "batch_normalization", "epsilon": 0.01},
    {"type": "dropout", "dropout_type": "alpha", "rate": 0.2},
    {"type": "dense_residual_block", "activation_function": "relu",
     "dense_path": [{"type": "dense", "number_of_nodes": 8, "weights": "glorot_normal"},
                    {"type": "activation", "activation_function": "mish"},
                    {"type": "dropout", "dropout_type": "zero", "rate": 0.5},
                    {"type": "dense", "number_of_nodes": 8, "offset": "ones"}]},
    {"type": "dense", "number_of_nodes": 3},
    {"type": "activation", "activation_function": "softmax"},
]


def test_readout_types_and_names_are_sensenets():
    assert set(readout_layers.LAYER_TYPES) <= set(LAYER_FUNCTIONS)
    assert set(readout_layers.INITIALIZERS) == set(INITIALIZERS) | {"zeros", "ones"}
    features = keras.Input((4,))
    for name in readout_layers.ACTIVATIONS:
        keras.layers.Activation(activation_function({"activation_function": name}))(features)


def test_every_readout_layer_type_builds_in_sensenet_and_predicts_alike():
    readout_layers.check_layers(EVERY_READOUT_TYPE)
    assert readout_layers.output_width(EVERY_READOUT_TYPE) == 3
    assert readout_layers.final_activation(EVERY_READOUT_TYPE) == "softmax"
    image_network = topologies.image_network("simple", (16, 16), "crop")
    readout = topologies.seed_layers(readout_layers.with_defaults(EVERY_READOUT_TYPE), 5)
    model = BuiltModel(network_document(image_network, readout, {"type": "categorical", "values": ["a", "b", "c"]}))
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    ours = model.keras_model.predict(pixels, verbose=0)
    theirs = create_model(model.document_with_weights())._model.predict(pixels, verbose=0)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)


def test_residual_block_width_must_match_its_input():
    layers = [
        {"type": "dense_residual_block", "dense_path": [{"type": "dense", "number_of_nodes": 8}]},
        {"type": "dense", "number_of_nodes": 2, "activation_function": "softmax"},
    ]
    assert "gives 8 outputs, but its input has 128" in readout_layers.residual_width_problem(layers, 128)
    assert readout_layers.residual_width_problem(layers, 8) is None


@pytest.mark.parametrize("name", optimizer_settings.NAMES)
def test_every_optimizer_row_builds_with_every_setting_it_takes(name):
    from pyramid.config import TrainConfig

    row = optimizer_settings.OPTIMIZERS[name]
    assert set(row.settings) <= set(optimizer_settings.SETTING_NAMES) <= set(TrainConfig.model_fields)
    given = {key: 0.5 if key != "learning_rate_power" else -0.25 for key in row.settings}
    optimizer = getattr(keras.optimizers, row.keras_class)(0.01, **optimizer_settings.keras_arguments(name, given))
    for key, setting in row.settings.items():
        assert float(optimizer.get_config()[setting.argument]) == pytest.approx(given[key])
    assert optimizer_settings.unused_settings(name, given) == []
    others = {key: 0.5 for key in optimizer_settings.SETTING_NAMES if key not in row.settings}
    assert optimizer_settings.unused_settings(name, others) == [k for k in optimizer_settings.SETTING_NAMES if k in others]


@pytest.mark.parametrize("name", sorted(loss_settings.LOSSES))
def test_every_loss_name_has_a_keras_loss(name):
    numeric = loss_settings.LOSSES[name].objective == "numeric"
    objective = Numeric([1.0, 2.0]) if numeric else Categorical(["a", "b"], ["a", "b"])
    loss = objective.loss(name)
    truth = objective.targets()
    value = float(np.mean(loss(truth, truth * 0.5 + 0.25)))
    assert np.isfinite(value)


def test_the_config_accepts_every_objective_of_the_registry():
    from pyramid.config import OBJECTIVE_TYPES
    from pyramid.objectives import OBJECTIVES

    assert set(OBJECTIVE_TYPES) == set(OBJECTIVES)


def test_the_config_knows_each_detectors_branches_as_sensenet_describes_them():
    from pyramid.config import ANCHORS_PER_BRANCH, YOLO_BRANCHES

    for topology, count in YOLO_BRANCHES.items():
        branches = topologies.detection_branches(topology)
        assert len(branches) == count
        assert all(len(branch["anchors"]) == ANCHORS_PER_BRANCH for branch in branches)
