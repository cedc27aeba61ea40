"""A dense network on feature rows: the readout of a deepnet without its image network.

The worker's standard and search training fit `layers` (sensenet layer descriptions) to the
rows dataset_caching wrote: tree features, then the preprocessed inputs, in the order
sensenet builds them. The Keras layers come from sensenet's own constructors, so the trained
weights written back into the same descriptions make sensenet compute the same function.
It offers what the fit loop uses of `pyramid.nets.model.BuiltModel`.
"""

import copy

from pyramid.importers import keras, tf  # first: it sets TensorFlow up before sensenet loads it
from pyramid.nets import readout_layers, topologies
from pyramid.nets.model import fill_weights

from sensenet.layers.construct import LAYER_FUNCTIONS  # noqa: E402
from sensenet.layers.utils import build_graph  # noqa: E402


class DenseModel:
    """`layers` on `width` input columns; `document` is {"layers": ...} with initializers."""

    precision = "float32"
    body_layers = ()  # nothing to freeze: every layer is readout
    head_layers = ()
    branches = None

    def __init__(self, layers, width, seed=0):
        self.document = {"layers": topologies.seed_layers(readout_layers.with_defaults(layers), seed)}
        self.width = width
        features = keras.Input((width,), dtype="float32", name="features")
        self.readout_layers = build_graph(self.document["layers"], LAYER_FUNCTIONS, features)
        self.keras_model = keras.Model(features, self.readout_layers[-1].output)

    def evaluation_model(self):
        """The model itself; under several replicas, every replica given the mean batch-norm
        statistics first (see BuiltModel.evaluation_model)."""
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            self.keras_model.set_weights(self.keras_model.get_weights())
        return self.keras_model

    def document_with_weights(self):
        document = copy.deepcopy(self.document)
        fill_weights(document["layers"], self.readout_layers)
        return document
