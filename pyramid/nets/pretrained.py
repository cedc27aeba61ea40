"""Pretrained weights in sensenet's cache layout, and loading them into our networks.

sensenet keeps the ImageNet weights of its networks as `<network>_weights_<version>.h5` in
`~/.bigml_sensenet`, downloading them from BigML's storage when missing. pyramid reads the
same files from the directory named by the config key `pretrained_weights_directory`, else
the environment variable PYRAMID_WEIGHTS_DIR, else sensenet's cache. It never downloads:
a missing file is reported before any training starts, with where to put it.
"""

import os

import h5py

from pyramid.config import PRETRAINED_METHODS
from pyramid.errors import WeightsError
from pyramid.importers import keras  # noqa: F401  (first: sets TensorFlow up for sensenet)

from sensenet.pretrained import PRETRAINED_CNN_METADATA  # noqa: E402

ENVIRONMENT_VARIABLE = "PYRAMID_WEIGHTS_DIR"
SENSENET_CACHE = os.path.join(os.path.expanduser("~"), ".bigml_sensenet")
# sensenet treats a smaller file as a failed download; so do we.
MIN_WEIGHTS_BYTES = 128 * 1024


def weights_directory(config):
    return config.pretrained_weights_directory or os.environ.get(ENVIRONMENT_VARIABLE) or SENSENET_CACHE


def weights_path(topology, config):
    version = PRETRAINED_CNN_METADATA[topology]["image_network"]["metadata"]["version"]
    return os.path.join(weights_directory(config), "%s_weights_%s.h5" % (topology, version))


def check_pretrained_weights(config):
    """Raise WeightsError, before any training, for a candidate whose weights are missing."""
    for topology, method in config.candidates:
        if method not in PRETRAINED_METHODS:
            continue
        path = weights_path(topology, config)
        if not os.path.isfile(path) or os.path.getsize(path) < MIN_WEIGHTS_BYTES:
            problem = "is missing" if not os.path.exists(path) else "is not a complete weights file"
            raise WeightsError(
                "pretrained weights for [%s, %s]: %s %s; put %s (from sensenet's cache, %s, on a "
                "machine that has it) in %s, or name the directory that holds it with "
                "pretrained_weights_directory or %s"
                % (topology, method, path, problem, os.path.basename(path), SENSENET_CACHE,
                   os.path.dirname(path), ENVIRONMENT_VARIABLE)
            )


def load_image_weights(built, path):
    """Set the image layers of `built` from a Keras weights file of the same topology.

    The file holds a whole sensenet model (its ImageNet readout, or a detector's COCO heads,
    too); its layers with weights come in the same order as ours, because both are built from
    the same JSON. The readout's weights are not used, nor a detector's heads (ours are sized
    for other classes): those layers keep their fresh weights.
    """
    stored = stored_layer_weights(path)
    image_layers = {id(layer) for layer in built.image_layers}
    heads = {id(layer) for layer in built.head_layers}
    ours = [layer for layer in built.keras_model.layers if layer.weights and id(layer) in image_layers]
    if len(stored) < len(ours):
        raise WeightsError("%s holds %d layers with weights; the network needs %d" % (path, len(stored), len(ours)))
    for layer, (name, weights) in zip(ours, stored):
        if id(layer) in heads:
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        if [w.shape for w in weights] != expected:
            raise WeightsError(
                "%s does not fit the network: its layer %s has shapes %s where %s needs %s"
                % (path, name, [w.shape for w in weights], layer.name, expected)
            )
        layer.set_weights(weights)


def stored_layer_weights(path):
    """[(layer name, [arrays])] of the layers with weights in a Keras 2 weights file."""
    try:
        with h5py.File(path, "r") as stream:
            group = stream["model_weights"] if "model_weights" in stream else stream
            layers = []
            for name in _names(group.attrs["layer_names"]):
                weights = [group[name][weight][()] for weight in _names(group[name].attrs["weight_names"])]
                if weights:
                    layers.append((name, weights))
            return layers
    except (OSError, KeyError) as error:
        raise WeightsError("%s is not a Keras weights file (%s)" % (path, error)) from None


def _names(values):
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]
