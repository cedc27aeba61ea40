"""The files worker jobs leave for each other and for the backend, each written whole or not
at all: to a temporary name beside its place, then renamed, so a failing job never damages
what an earlier job wrote, and a job can be run again in the same directory."""

import json
import math
import os
import shutil
import tempfile

from pyramid.errors import InputError
from pyramid.importers import keras  # noqa: F401  (first: sets TensorFlow up before sensenet)
from pyramid.nets.model import BuiltModel
from pyramid.train.finalize import file_mode, write_json

FIT_INFO = "model_fit_info.json"
WEIGHTS = "model_weights.h5"
NETWORK = "network.json"


def write_image_model(directory, built, fit_info):
    """A trained image model's submodel directory: its weights, its network's document with
    initializers (what the weights fill), and model_fit_info.json last, so that a directory
    with a fit info always has the rest."""
    os.makedirs(directory, exist_ok=True)
    check_finite(fit_info, "model_fit_info.json")
    write_weights(os.path.join(directory, WEIGHTS), built.evaluation_model())
    write_json(os.path.join(directory, NETWORK), built.document)
    write_json(os.path.join(directory, FIT_INFO), fit_info, indent=1)


def read_image_model(directory):
    """(fit info, the trained network's document with its weights) of a submodel directory
    written by `write_image_model`."""
    fit_info = read_json(os.path.join(directory, FIT_INFO), "the image model's fit info")
    return fit_info, load_image_network(directory, checked=True).document_with_weights()


def load_image_network(directory, checked=False):
    """The trained BuiltModel of a submodel directory written by `write_image_model` (whose
    fit info, written last, says it is complete; `checked` when the caller read it)."""
    if not checked:
        read_json(os.path.join(directory, FIT_INFO), "the image model's fit info")
    built = BuiltModel(read_json(os.path.join(directory, NETWORK), "the image model's network"))
    built.keras_model.load_weights(os.path.join(directory, WEIGHTS))
    return built


def read_dense_model(directory):
    """(fit info, the trained dense network: {"layers" with weights, "uses_trees", "width"})
    of a submodel directory written by standard or search training."""
    from pyramid.nets.dense import DenseModel

    fit_info = read_json(os.path.join(directory, FIT_INFO), "the model's fit info")
    network = read_json(os.path.join(directory, NETWORK), "the model's network")
    model = DenseModel(network["layers"], network["width"])
    model.keras_model.load_weights(os.path.join(directory, WEIGHTS))
    return fit_info, dict(network, **model.document_with_weights())


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        raise InputError("%s %s does not exist" % (what, json.dumps(path))) from None
    except (OSError, ValueError) as error:
        raise InputError("cannot read %s %s: %s" % (what, json.dumps(path), error)) from None


def write_weights(path, keras_model):
    """Keras weights as HDF5 (the format follows the suffix, so the temporary name keeps it)."""
    write_file(path, keras_model.save_weights)


def write_file(path, write):
    """`write(temporary path)`, then the file renamed to `path`, replacing an earlier one."""
    directory, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".%s." % name, suffix=os.path.splitext(name)[1], dir=directory)
    os.close(handle)
    os.unlink(temporary)  # writers that refuse an existing file (sensenet's bundle) get none
    try:
        write(temporary)
        if os.path.isfile(temporary):
            os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except BaseException:
        remove(temporary)
        raise
    return path


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def check_finite(document, what):
    """An InputError naming the first NaN or infinity in `document` (JSON cannot hold them,
    and a model holding them predicts nothing)."""
    try:
        json.dumps(document, allow_nan=False)  # the C encoder: fast; the walk below is not
        return
    except ValueError:
        where = first_non_finite(document)
    if where is not None:
        raise InputError("%s: %s is not a finite number (training diverged); nothing was written"
                         % (what, where))


def first_non_finite(value, path=""):
    if isinstance(value, float):
        return None if math.isfinite(value) else path or "the value"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = first_non_finite(item, "%s[%s]" % (path, json.dumps(key)) if isinstance(key, str) else "%s[%d]" % (path, key))
        if found is not None:
            return found
    return None
