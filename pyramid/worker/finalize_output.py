"""finalize_output: the workflow's last job, which writes the model BigML deploys.

For an image model (one image input, no trees) it reads the image_training job's submodel
directory, `submodel_<base_image_network>_<image_training_type>/`, and writes into
`output_directory`, in this order (worker-jobs.md section 4):
- `final_model_weights.h5`: the weights of sensenet's Keras model of the final document;
- `final_model_bundle.smbundle`: sensenet's bundle, written by sensenet;
- `final_model_js_export/`: the TF.js graph model (`pyramid.worker.tfjs_export`);
- `final_model.json`: the fit info, the readout `layers`, `trees` (null) and `image_network`,
  with `holdout_image_predictions` made by sensenet's own model of that document;
- `short_model.json`: the same with initializer names instead of weights.
Each replaces an earlier one whole (`pyramid.worker.outputs`), so finalize can run again in
the same directory; NaN or infinity anywhere is an error before anything is written.

Searches and models with tabular inputs or trees are finalized by the next worker release.
"""

import copy
import os

from pyramid.errors import InputError
from pyramid.evaluation import objective_for, predict
from pyramid.worker import cache, outputs
from pyramid.worker.settings import model_id
from pyramid.worker.tfjs_export import write_tfjs

WEIGHTS = "final_model_weights.h5"
BUNDLE = "final_model_bundle.smbundle"
TFJS = "final_model_js_export"
FINAL_MODEL = "final_model.json"
SHORT_MODEL = "short_model.json"
FIT_INFO_KEYS = ("class_index", "elapsed_time", "evaluation_metrics", "importances", "iterations",
                 "optypes", "output_exposition", "preprocess", "training_options", "validation_metrics",
                 "weight_index", "holdout_images")


def run(settings, document, report):
    from sensenet.layers.construct import remove_weights
    from sensenet.layers.legacy import legacy_convert

    report.message("Finalizing")
    schema = cache.Schema(settings.info_list, settings.instance_weights)
    check_image_model(settings, schema)
    directory = os.path.join(settings.output_directory, "submodel_" + model_id(settings))
    fit_info, network = outputs.read_image_model(directory)
    if fit_info.get("holdout_images") is None:
        raise InputError("the image model in %s has no holdout images: its image_training job needs "
                         '"return_holdout_images": true' % directory)
    final = final_document(fit_info, network)

    report.message("Creating holdout predictions", 0.1)
    wrapper = sensenet_model(final)
    final["holdout_image_predictions"] = holdout_predictions(final, wrapper, fit_info, settings)
    outputs.check_finite(final, FINAL_MODEL)
    if settings.deepnet_version == "alpha":
        final = legacy_convert(final)

    report.message("Recreating model", 0.3)
    paths = {}
    report.message("Writing weight file", 0.4)
    paths["weight_path"] = outputs.write_file(os.path.join(settings.output_directory, WEIGHTS), wrapper.save_weights)
    report.message("Writing bundle file", 0.5)
    paths["bundle_path"] = outputs.write_file(os.path.join(settings.output_directory, BUNDLE), wrapper.save_bundle)
    model_json, shards = write_tfjs(wrapper, os.path.join(settings.output_directory, TFJS))
    report.message("Writing JSON", 0.8)
    paths["final_model_path"] = os.path.join(settings.output_directory, FINAL_MODEL)
    paths["short_model_path"] = os.path.join(settings.output_directory, SHORT_MODEL)
    outputs.write_json(paths["final_model_path"], final)
    outputs.write_json(paths["short_model_path"], remove_weights(final))

    report.message("Globbing paths and finishing", 0.9)
    return {
        "final_model_path": paths["final_model_path"],
        "short_model_path": paths["short_model_path"],
        "weight_path": paths["weight_path"],
        "bundle_path": paths["bundle_path"],
        "tfjs_weight_paths": shards,
        "tfjs_model_path": model_json,
        "final_model_size": os.path.getsize(paths["final_model_path"]),
        "short_model_size": os.path.getsize(paths["short_model_path"]),
        "weights_size": os.path.getsize(paths["weight_path"]),
        "bundle_size": os.path.getsize(paths["bundle_path"]),
    }


def check_image_model(settings, schema):
    if settings.is_search:
        raise InputError("is_search: finalizing a search is not supported yet by this worker")
    inputs = [entry["type"] for entry in schema.inputs]
    if inputs != ["image"] or settings.tree_embedding:
        raise InputError("info_list: finalizing a model with inputs %s%s is not supported yet by this "
                         "worker (only one image input, without trees)"
                         % (inputs, " and trees" if settings.tree_embedding else ""))
    for key in ("base_image_network", "image_training_type"):
        if getattr(settings, key) is None:
            raise InputError('missing required key "%s"; finalize_output needs it to find the image model' % key)


def final_document(fit_info, network):
    """The deepnet JSON: the fit info's keys, then the trained network."""
    final = {key: copy.deepcopy(fit_info.get(key)) for key in FIT_INFO_KEYS}
    final.update({"layers": network["layers"], "trees": None, "image_network": network["image_network"]})
    return final


def sensenet_model(final):
    """sensenet's model of the final document, as BigML will load it; a detector's with
    unfiltered boxes, as the earlier implementation exported it."""
    from sensenet.models.wrappers import create_model

    detector = final["output_exposition"]["type"] == "bounding_box"
    return create_model(final, {"output_unfiltered_boxes": True} if detector else None)


def holdout_predictions(final, wrapper, fit_info, settings):
    """[full path, truth, prediction] of every holdout image: class index and probabilities,
    or number and prediction in label units, or boxes and found boxes."""
    holdout = fit_info["holdout_images"]
    exposition = final["output_exposition"]
    paths = [os.path.join(settings.image_root, file) for file, _ in holdout]
    points = [point_of(truth, exposition) for _, truth in holdout]
    width = final["image_network"]["metadata"]["input_image_shape"][0]
    objective = objective_for(exposition, points, width)
    predictions = predict(final, paths, objective, lambda: wrapper._model)
    rows = []
    for path, (_, truth), prediction in zip(paths, holdout, predictions):
        if exposition["type"] == "numeric":
            truth = truth * exposition["stdev"] + exposition["mean"]
            prediction = float(prediction)
        elif exposition["type"] == "bounding_box":
            prediction = [objective.prediction_record(prediction)]
        else:
            prediction = [float(p) for p in prediction]
        rows.append([path, truth, prediction])
    return rows


def point_of(truth, exposition):
    """A holdout entry as pyramid_evaluate's point, to build the objective that scores it."""
    if exposition["type"] == "categorical":
        return {"label": exposition["values"][truth]}
    if exposition["type"] == "numeric":
        return {"label": truth * exposition["stdev"] + exposition["mean"]}
    return {"boxes": truth}
