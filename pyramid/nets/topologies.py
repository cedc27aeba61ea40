"""Image network topologies as sensenet JSON layer lists, weights given as initializers.

Every network pyramid trains is first written in sensenet's own format and then built from
it (see `pyramid.nets.model`), so the network sensenet rebuilds from `final_model.json` is
the one we trained. The pretrained-capable topologies come from sensenet's packaged
metadata; `simple` and `simple_residual` are pyramid's own. All graphs are flat: layers
refer to earlier outputs through `inputs`, never through nested blocks.
"""

import copy
import math

import pyramid.importers  # noqa: F401  (first: it sets TensorFlow up before sensenet loads it)
from sensenet.pretrained import PRETRAINED_CNN_METADATA

from pyramid.config import DETECTION_TOPOLOGIES
from pyramid.config import SCRATCH_TOPOLOGIES as SIMPLE_TOPOLOGIES
from pyramid.config import TOPOLOGIES as CLASSIFIER_TOPOLOGIES

PRETRAINED_TOPOLOGIES = tuple(t for t in CLASSIFIER_TOPOLOGIES if t not in SIMPLE_TOPOLOGIES)
# Pixels become (x - 127.5) / 127.5 in pyramid's own networks.
SIMPLE_LOADING_METHOD = "centering"
DEFAULT_READOUT_WIDTH = 256


def conv(filters, size, strides=1, activation="linear"):
    return {
        "type": "convolution_2d",
        "kernel": "glorot_uniform",
        # A convolution followed by batch normalisation needs no bias.
        "bias": None,
        "number_of_filters": filters,
        "kernel_dimensions": [size, size],
        "strides": [strides, strides],
        "padding": "same",
        "activation_function": activation,
    }


def batchnorm():
    return {
        "type": "batch_normalization",
        "epsilon": 1e-3,
        "gamma": "ones",
        "beta": "zeros",
        "mean": "zeros",
        "variance": "ones",
    }


def activation(name):
    return {"type": "activation", "activation_function": name}


def max_pool(size=3, strides=2):
    return {
        "type": "max_pool_2d",
        "pool_size": [size, size],
        "strides": [strides, strides],
        "padding": "same",
    }


def simple_layers():
    """Three conv/BN/ReLU stages, pooled down, ending in a global max pool (128 features)."""
    layers = []
    for stage, filters in enumerate((32, 64, 128)):
        layers += [conv(filters, 3), batchnorm(), activation("relu")]
        if stage < 2:
            layers.append(max_pool())
    layers.append({"type": "global_max_pool_2d"})
    return layers, 128


def simple_residual_layers(height, width):
    """Residual blocks of ReLU units; the number of blocks grows with the input size.

    (Not mish: TensorFlow 2.21's CPU graph optimiser fuses convolution, batch norm and mish
    into a kernel that does not exist, so sensenet could not run such a network.)

    Each block is a 1x1 projection followed by two 3x3 convolutions whose sum with the
    projection goes through a ReLU; blocks are separated by stride-2 max pools.
    """
    n_blocks = min(6, max(3, round(math.log2(min(height, width))) - 2))
    layers = []

    for block in range(n_blocks):
        filters = 2 ** (5 + block)
        layers += [conv(filters, 1), batchnorm(), activation("relu")]
        shortcut = len(layers) - 1
        layers += [conv(filters, 3), batchnorm(), activation("relu"), conv(filters, 3), batchnorm()]
        layers.append({"type": "add", "inputs": [shortcut, len(layers) - 1]})
        layers.append(activation("relu"))
        if block < n_blocks - 1:
            layers.append(max_pool())

    layers.append({"type": "global_average_pool_2d"})
    return layers, 2 ** (5 + n_blocks - 1)


def image_network(topology, shape_hw, rescale_type):
    """The `image_network` dict (layers and metadata) of a topology at the given input size."""
    height, width = shape_hw

    if topology in PRETRAINED_TOPOLOGIES:
        network = copy.deepcopy(PRETRAINED_CNN_METADATA[topology]["image_network"])
    elif topology == "simple":
        layers, outputs = simple_layers()
        network = {"layers": layers, "metadata": simple_metadata(topology, outputs)}
    elif topology == "simple_residual":
        layers, outputs = simple_residual_layers(height, width)
        network = {"layers": layers, "metadata": simple_metadata(topology, outputs)}
    else:
        raise ValueError("unknown topology %r" % topology)

    network["metadata"]["input_image_shape"] = [width, height, 3]
    network["metadata"]["rescale_type"] = rescale_type
    return network


def detection_branches(topology):
    """The branch specs (strides, anchors, xyscale, head layer) of a YOLO topology as
    sensenet describes it, for its pretrained input size."""
    return copy.deepcopy(PRETRAINED_CNN_METADATA[topology]["image_network"]["metadata"]["outputs"])


def detection_network(topology, size, n_classes, anchors):
    """The `image_network` of a YOLO topology (sensenet's own description) for a square
    `size` input, its heads sized for `n_classes` and given `anchors` (a list of 3 [w, h]
    per branch, in input pixels). Always `pad`: sensenet rescales detector inputs so."""
    if topology not in DETECTION_TOPOLOGIES:
        raise ValueError("unknown detection topology %r" % topology)
    network = copy.deepcopy(PRETRAINED_CNN_METADATA[topology]["image_network"])
    metadata = network["metadata"]
    for branch, branch_anchors in zip(metadata["outputs"], anchors, strict=True):
        branch["anchors"] = [list(anchor) for anchor in branch_anchors]
        head = network["layers"][branch["input"]]
        head["number_of_filters"] = len(branch_anchors) * (5 + n_classes)
    metadata["input_image_shape"] = [size, size, 3]
    metadata["rescale_type"] = "pad"
    return network


def simple_metadata(topology, outputs):
    return {
        "base_image_network": topology,
        "loading_method": SIMPLE_LOADING_METHOD,
        "mean_image": None,
        "outputs": outputs,
        "version": None,
    }


def default_readout(n_outputs, output_activation):
    """A hidden ReLU layer, then the output layer (softmax for classes, linear for numbers)."""
    return [dense(DEFAULT_READOUT_WIDTH, "relu"), dense(n_outputs, output_activation)]


def dense(units, activation_function):
    return {
        "type": "dense",
        "weights": "glorot_uniform",
        "offset": "zeros",
        "number_of_nodes": units,
        "activation_function": activation_function,
    }


def seed_layers(layers, seed):
    """Give every randomly initialised layer its own seed (sensenet defaults all to 0),
    unless the layer has one."""
    for index, layer in enumerate(layers):
        if any(layer.get(key) in ("glorot_uniform", "glorot_normal") for key in layer):
            layer.setdefault("seed", (seed * 7919 + index) % (2**31 - 1))
    return layers
