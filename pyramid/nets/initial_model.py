"""Starting from a trained model: a final_model.json that pyramid wrote earlier."""

import json

from pyramid.errors import WeightsError


def check_initial_models(config):
    """Raise WeightsError, before any training, for an initial model that does not fit."""
    for topology, path in config.candidates:
        if topology == "initial_model":
            read_document(path, config)


def initial_document(path, objective, config):
    """The model's sensenet document, checked against the data and made ready to train on.

    A numeric model's output layer is rescaled to the data's label mean and deviation; its
    rescale type becomes the config's, so training and the output agree.
    """
    document = read_document(path, config)
    document["image_network"]["metadata"]["rescale_type"] = config.rescale_type
    if objective.name == "numeric":
        restandardize_output(path, document, objective)
    return {key: document[key] for key in ("preprocess", "output_exposition", "layers", "trees", "image_network")}


def read_document(path, config):
    """The model's document; its objective, classes (in order) and input size must be the
    config's."""
    try:
        with open(path) as stream:
            document = json.load(stream)
    except (OSError, ValueError) as error:
        raise WeightsError("initial model %s cannot be read: %s" % (path, error)) from None
    if not isinstance(document, dict) or "image_network" not in document or "layers" not in document:
        raise WeightsError("initial model %s is not a single-image deepnet written by pyramid_train" % path)

    exposition = document.get("output_exposition") or {}
    if exposition.get("type") != config.objective_type:
        raise WeightsError(
            "initial model %s predicts a %s objective, but the labels here are %s"
            % (path, exposition.get("type"), config.objective_type)
        )
    if config.classes is not None and exposition.get("values") != list(config.classes):
        raise WeightsError(
            "initial model %s has classes %s, but the data has %s"
            % (path, exposition.get("values"), list(config.classes))
        )
    width, height = document["image_network"]["metadata"]["input_image_shape"][:2]
    if (height, width) != tuple(config.image_shape_hw):
        raise WeightsError(
            "initial model %s takes %dx%d images, but input_image_shape is %s"
            % (path, width, height, list(config.input_image_shape))
        )
    return document


def restandardize_output(path, document, objective):
    """Rewrite the linear output layer for the data's mean and deviation.

    The network outputs y0 with label = y0 * s0 + m0; trained here it must output
    y = (label - m) / s = y0 * (s0 / s) + (m0 - m) / s.
    """
    old = document["output_exposition"]
    last = document["layers"][-1]
    if last.get("type") != "dense" or last.get("activation_function") not in (None, "linear", "identity"):
        raise WeightsError("initial model %s does not end in a linear dense layer" % path)
    scale = old["stdev"] / objective.stdev
    shift = (old["mean"] - objective.mean) / objective.stdev
    last["weights"] = [[w * scale for w in row] for row in last["weights"]]
    last["offset"] = [b * scale + shift for b in (last.get("offset") or [0.0] * len(last["weights"][0]))]
    document["output_exposition"] = objective.output_exposition
