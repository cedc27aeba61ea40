"""Keras models built from sensenet JSON, and the JSON written back with trained weights.

The model is assembled from sensenet's own layer constructors (`build_graph` with
`LAYER_FUNCTIONS`) and its pixel normalisation (`ImageLoader`), one Keras layer for each JSON
layer, in order. Writing the trained weights into that same JSON therefore gives a document
that sensenet rebuilds into the same computation. The Keras model takes images that are
already rescaled (float32 [batch, H, W, 3], 0..255); sensenet's rescaling of the same file
gives the same pixels (`pyramid.data.reading`).
"""

import copy

from pyramid.importers import keras  # first: it sets TensorFlow up before sensenet loads it

from sensenet.layers.construct import LAYER_FUNCTIONS  # noqa: E402
from sensenet.layers.utils import WEIGHT_KEYS, build_graph  # noqa: E402
from sensenet.preprocess.image import ImageLoader  # noqa: E402

# Batch normalisation's moving statistics are what holdout checks and sensenet use. With
# Keras' default momentum of 0.99 they lag the training statistics for hundreds of batches,
# so early checks judge a network that never existed; runs here are often that short. This
# changes training only: the exported statistics are read like any others.
BATCHNORM_MOMENTUM = 0.9


def network_document(image_network, readout_layers, output_exposition):
    """A complete sensenet deepnet document for a single-image model."""
    return {
        "preprocess": [{"type": "image", "index": 0}],
        "output_exposition": output_exposition,
        "layers": readout_layers,
        "trees": None,
        "image_network": image_network,
    }


class BuiltModel:
    """A Keras model and, for each JSON layer, the Keras layer that implements it."""

    def __init__(self, document):
        self.document = document
        metadata = document["image_network"]["metadata"]
        width, height = metadata["input_image_shape"][:2]

        pixels = keras.Input((height, width, 3), dtype="float32", name="image")
        normalized = ImageLoader(document["image_network"])(pixels)
        self.image_layers = build_graph(
            document["image_network"]["layers"], LAYER_FUNCTIONS, normalized
        )
        features = self.image_layers[-1].output
        self.readout_layers = build_graph(document["layers"], LAYER_FUNCTIONS, features)
        outputs = self.readout_layers[-1].output
        self.keras_model = keras.Model(pixels, outputs)
        for layer in self.image_layers + self.readout_layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BATCHNORM_MOMENTUM

    def document_with_weights(self):
        """The document with every weight replaced by the trained values, as nested lists."""
        document = copy.deepcopy(self.document)
        fill_weights(document["image_network"]["layers"], self.image_layers)
        fill_weights(document["layers"], self.readout_layers)
        return document


def fill_weights(layer_specs, keras_layers):
    for spec, layer in zip(layer_specs, keras_layers, strict=True):
        keys = WEIGHT_KEYS.get(type(layer).__name__)
        if not keys:
            continue
        # Keras orders the weights as WEIGHT_KEYS does; a layer without a bias has none.
        present = [key for key in keys if not (key == "bias" and spec.get("bias") is None)]
        for key, value in zip(present, layer.get_weights(), strict=True):
            spec[key] = value.tolist()
        spec.pop("seed", None)
