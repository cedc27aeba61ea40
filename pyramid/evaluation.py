"""Scoring a written final_model.json on labelled images, in batches.

The images are read with pyramid's reader (the pixels sensenet computes, by the decoder rule
of `pyramid.data.reading`) in tf.data batches. A classifier or regressor runs in sensenet's
own Keras model (`create_model(path)`), many images per call; a detector's network is rebuilt
by pyramid from the same document and its heads decoded and filtered exactly as sensenet does
(`pyramid.detection.decode`), because sensenet's detector graph takes one image at a time.
The metrics are the objectives' own (`pyramid.objectives`): accuracy, AUC and likelihood;
r-squared and errors; COCO mAP.
"""

import json
import os

import numpy as np

from pyramid.data.datasets import evaluation_dataset, image_source
from pyramid.errors import InputError
from pyramid.importers import tf  # noqa: F401  (first: sets TensorFlow up for sensenet)
from pyramid.nets.model import BuiltModel
from pyramid.objectives.bounding_box import BoundingBox
from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric

BATCH = 64
DATA_KEYS = ("test_data", "training_data", "image_training_data")
DOCUMENT_KEYS = ("preprocess", "output_exposition", "layers", "trees", "image_network")


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except OSError as error:
        raise InputError("cannot read %s %s: %s" % (what, path, error.strerror or error)) from None
    except ValueError as error:
        raise InputError("%s %s is not valid JSON: %s" % (what, path, error)) from None


def load_points(path, image_root=None):
    """(points, image_root) from a data file: a list of points, or an object with
    `image_root` and one of DATA_KEYS. An `image_root` given here is taken as it is (relative
    to the current directory); else the data's own, relative to the data file, else the data
    file's directory."""
    data = read_json(path, "data file")
    base = os.path.dirname(os.path.abspath(path))
    if isinstance(data, dict):
        found = [key for key in DATA_KEYS if key in data]
        if len(found) != 1:
            raise InputError("data file %s must hold a list of points, or an object with one of %s"
                             % (path, ", ".join(DATA_KEYS)))
        points, own_root = data[found[0]], data.get("image_root")
    else:
        points, own_root = data, None
    if not isinstance(points, list) or not points:
        raise InputError("data file %s holds no points" % path)
    for index, point in enumerate(points):
        if not (isinstance(point, dict) and isinstance(point.get("file"), str)
                and ("label" in point or "boxes" in point)):
            raise InputError("data file %s, point %d: expected {\"file\": ..., \"label\": ...} or "
                             "{\"file\": ..., \"boxes\": [...]}" % (path, index))
    if image_root is not None:
        return points, os.path.abspath(image_root)
    return points, os.path.join(base, own_root or "")


def objective_for(exposition, points, size):
    """The objective that scores `points` against a model whose output is `exposition` (and
    whose square input has side `size`, for a detector)."""
    kind = exposition.get("type")
    if kind == "categorical":
        classes = exposition["values"]
        labels = [point.get("label") for point in points]
        for index, label in enumerate(labels):
            if label not in classes:
                raise InputError("point %d: label %s is not one of the model's classes %s"
                                 % (index, json.dumps(label), json.dumps(classes)))
        return Categorical(labels, classes)
    if kind == "numeric":
        return Numeric([float(point["label"]) for point in points])
    if kind == "bounding_box":
        boxes = [point.get("boxes") or [] for point in points]
        for index, point_boxes in enumerate(boxes):
            for box in point_boxes:
                if box[4] not in exposition["values"]:
                    raise InputError("point %d: box label %s is not one of the model's classes %s"
                                     % (index, json.dumps(box[4]), json.dumps(exposition["values"])))
        return BoundingBox(boxes, exposition["values"], size)
    raise InputError("the model's output_exposition type %s cannot be evaluated" % json.dumps(kind))


def evaluate(model_path, points, image_root):
    """{metric: value} of the model at `model_path` on `points` (files under `image_root`)."""
    from sensenet.models.wrappers import create_model

    document = read_json(model_path, "model")
    if not isinstance(document, dict) or "image_network" not in document:
        raise InputError("model %s is not a single-image deepnet written by pyramid_train" % model_path)
    width = document["image_network"]["metadata"]["input_image_shape"][0]
    objective = objective_for(document.get("output_exposition") or {}, points, width)
    paths = [os.path.join(image_root, point["file"]) for point in points]
    predictions = predict(document, paths, objective, lambda: create_model(model_path)._model)
    rows = np.arange(len(points))
    return objective.metrics(predictions, objective.truth(rows), np.ones(len(points)))


def predict(document, paths, objective, sensenet_model):
    """The predictions of the model of `document` for the images at `paths`, in label units
    (class probabilities, numbers, or a detector's boxes), as sensenet makes them;
    `sensenet_model()` gives sensenet's Keras model of the document (classifiers and
    regressors run in it)."""
    metadata = document["image_network"]["metadata"]
    width, height = metadata["input_image_shape"][:2]
    detector = isinstance(objective, BoundingBox)
    rescale_type = "pad" if detector else metadata.get("rescale_type", "warp")
    images = image_source(paths, (height, width), rescale_type, max_data_size=0)
    objective.fit_images(images.sizes, paths)
    batches = evaluation_dataset(images, np.arange(len(paths)), BATCH)
    if detector:
        network = BuiltModel({key: document[key] for key in DOCUMENT_KEYS}).keras_model
        outputs = network.predict(batches, verbose=0)
        return objective.predictions(outputs, np.arange(len(paths)), document)
    predictions = sensenet_model().predict(batches, verbose=0)
    if isinstance(objective, Numeric):
        predictions = predictions[:, 0]  # sensenet's outputs are in label units already
    return predictions
