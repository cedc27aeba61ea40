"""Keras models built from sensenet JSON, and the JSON written back with trained weights.

The model is assembled from sensenet's own layer constructors (`build_graph` with
`LAYER_FUNCTIONS`) and its pixel normalisation (`ImageLoader`), one Keras layer for each JSON
layer, in order. Writing the trained weights into that same JSON therefore gives a document
that sensenet rebuilds into the same computation. The Keras model takes images that are
already rescaled (float32 [batch, H, W, 3], 0..255); sensenet's rescaling of the same file
gives the same pixels (`pyramid.data.reading`).
"""

import copy

from pyramid.importers import keras, tf  # first: it sets TensorFlow up before sensenet loads it

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
    """A Keras model and, for each JSON layer, the Keras layer that implements it.

    With a mixed `precision` ("mixed_float16" or "mixed_bfloat16") the image layers compute
    in 16 bits while their weights stay float32; the readout, and so the outputs and the
    loss, stay float32. `evaluation_model()` is a float32 twin with the same weights, whose
    predictions are the ones sensenet reproduces.
    """

    def __init__(self, document, precision="float32"):
        self.document = document
        self.precision = precision
        self._twin = None
        metadata = document["image_network"]["metadata"]
        width, height = metadata["input_image_shape"][:2]

        pixels = keras.Input((height, width, 3), dtype="float32", name="image")
        normalized = ImageLoader(document["image_network"])(pixels)
        self.image_layers = build_graph(
            document["image_network"]["layers"], layer_functions(precision), normalized
        )
        self.branches = branches = yolo_branches(document)
        # A detector's heads (sized for its classes) learn like a classifier's readout.
        self.head_layers = [self.image_layers[branch["input"]] for branch in branches or ()]
        self.body_layers = [layer for layer in self.image_layers if layer not in self.head_layers]
        if branches:
            # A detector: its outputs are the raw heads of its YOLO branches, no readout.
            self.readout_layers = []
            outputs = [layer.output for layer in self.head_layers]
        else:
            features = self.image_layers[-1].output
            self.readout_layers = build_graph(document["layers"], LAYER_FUNCTIONS, features)
            outputs = self.readout_layers[-1].output
        self.keras_model = keras.Model(pixels, outputs)
        for layer in self.image_layers + self.readout_layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BATCHNORM_MOMENTUM

    def evaluation_model(self):
        """A float32 Keras model with the current weights (the model itself when float32).

        Under a strategy with several replicas, each replica keeps its own batch-norm moving
        statistics (Keras makes them on-read variables) and would predict with its own; the
        weights written out hold their mean. Assigning the weights back gives every replica
        that mean, so the predictions made here are the ones the written model makes.
        """
        if self.precision == "float32":
            if tf.distribute.get_strategy().num_replicas_in_sync > 1:
                self.keras_model.set_weights(self.keras_model.get_weights())
            return self.keras_model
        if self._twin is None:
            self._twin = BuiltModel(self.document).keras_model
        self._twin.set_weights(self.keras_model.get_weights())
        return self._twin

    def document_with_weights(self):
        """The document with every weight replaced by the trained values, as nested lists."""
        document = copy.deepcopy(self.document)
        fill_weights(document["image_network"]["layers"], self.image_layers)
        fill_weights(document["layers"], self.readout_layers)
        return document


def yolo_branches(document):
    """The branch specs of a YOLO network (sensenet reads them from metadata.outputs, a
    list), or None for a classifier (whose metadata.outputs is its feature width)."""
    outputs = document["image_network"]["metadata"].get("outputs")
    return outputs if isinstance(outputs, list) else None


def layer_functions(precision):
    """sensenet's layer constructors, made to compute in `precision`.

    sensenet creates every layer with dtype float32; a mixed policy set on the layer before
    it is first called makes it compute in 16 bits over float32 weights.
    """
    if precision == "float32":
        return LAYER_FUNCTIONS
    policy = keras.mixed_precision.Policy(precision)

    def with_policy(make_layer):
        def make(params):
            layer = make_layer(params)
            if isinstance(layer, keras.layers.Layer):
                layer._set_dtype_policy(policy)
            return layer

        return make

    return {name: with_policy(make_layer) for name, make_layer in LAYER_FUNCTIONS.items()}


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
