"""Every topology builds from sensenet JSON, and sensenet rebuilds it with our weights exactly."""

import json

import numpy as np
import pytest
from sensenet.models.wrappers import create_model

from pyramid.nets import topologies
from pyramid.nets.model import BuiltModel, network_document

CLASSES = {"type": "categorical", "values": ["a", "b", "c"]}


def built(topology, shape_hw, readout=None, exposition=CLASSES):
    image_network = topologies.image_network(topology, shape_hw, "crop")
    topologies.seed_layers(image_network["layers"], 7)
    readout = readout or topologies.seed_layers(topologies.default_readout(3, "softmax"), 8)
    return BuiltModel(network_document(image_network, readout, exposition))


@pytest.mark.parametrize("topology", topologies.CLASSIFIER_TOPOLOGIES)
def test_sensenet_rebuilds_every_topology_exactly(topology):
    model = built(topology, (32, 40))
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 32, 40, 3)).astype(np.float32)
    # Change every weight from its initial value, as training would.
    model.keras_model.set_weights(
        [w + np.random.default_rng(1).normal(0, 0.01, w.shape).astype(w.dtype) for w in model.keras_model.get_weights()]
    )
    ours = model.keras_model.predict(pixels, verbose=0)

    document = model.document_with_weights()
    if topology in topologies.SIMPLE_TOPOLOGIES:
        document = json.loads(json.dumps(document))  # through JSON text, as users get it
    theirs = create_model(document)._model.predict(pixels, verbose=0)

    assert ours.shape == (3, 3)
    np.testing.assert_allclose(theirs, ours, atol=1e-6, rtol=0)
    metadata = document["image_network"]["metadata"]
    assert metadata["input_image_shape"] == [40, 32, 3]
    assert metadata["base_image_network"] == topology
    assert not any(isinstance(v, str) and v.startswith("glorot") for layer in document["layers"] for v in layer.values())


def test_simple_residual_grows_with_the_input():
    small, _ = topologies.simple_residual_layers(16, 16)
    large, _ = topologies.simple_residual_layers(256, 256)
    count = lambda layers: sum(layer["type"] == "add" for layer in layers)  # noqa: E731
    assert count(small) == 3 and count(large) == 6


def test_custom_readout_layers():
    readout = [
        {"type": "dense", "weights": "glorot_uniform", "offset": "zeros", "number_of_nodes": 3, "activation_function": "softmax", "seed": 3}
    ]
    model = built("simple", (16, 16), readout=readout)
    assert model.keras_model.output_shape == (None, 3)
    assert len(model.document_with_weights()["layers"][0]["weights"]) == 128
