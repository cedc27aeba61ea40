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

A model with other inputs or trees (`submodel_<job_id>/`, from standard_training) is its
dense layers, `trees` (trees.json when it was trained with them) and `image_network` (the
image model's, with an image column). A search (`is_search`) is every search submodel ranked
by its worst-case rank score over the 128 resamples of its evaluations (`pyramid.worker.search`):
the best `model_fraction` of them (at least one) as `networks`, every one as `candidates`.
"""

import copy
import glob
import json
import os

from pyramid.errors import InputError
from pyramid.evaluation import objective_for, predict
from pyramid.worker import cache, outputs
from pyramid.worker.settings import SEARCH_CONFIGURATION, model_id
from pyramid.worker.tfjs_export import write_tfjs

WEIGHTS = "final_model_weights.h5"
BUNDLE = "final_model_bundle.smbundle"
TFJS = "final_model_js_export"
FINAL_MODEL = "final_model.json"
EVALUATIONS = "evaluations.json"
TREES = "trees.json"
SHORT_MODEL = "short_model.json"
FIT_INFO_KEYS = ("class_index", "elapsed_time", "evaluation_metrics", "importances", "iterations",
                 "optypes", "output_exposition", "preprocess", "training_options", "validation_metrics",
                 "weight_index", "holdout_images")


def run(settings, document, report):
    from sensenet.layers.construct import remove_weights
    from sensenet.layers.legacy import legacy_convert

    report.message("Finalizing")
    schema = cache.Schema(settings.info_list, settings.instance_weights)
    if settings.is_search:
        final = search_document(settings, schema)
        wrapper = sensenet_model(final)
    elif image_only(schema, settings):
        final, wrapper = image_model_document(settings, report)
    else:
        final = dense_model_document(settings, schema)
        wrapper = sensenet_model(final)
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


def image_only(schema, settings):
    """One image input and no trees: the image model is the final model."""
    return [entry["type"] for entry in schema.inputs] == ["image"] and not settings.tree_embedding


def image_model_document(settings, report):
    """The image model of image_training, with sensenet's holdout predictions."""
    for key in ("base_image_network", "image_training_type", "image_root"):
        if getattr(settings, key) is None:
            raise InputError('missing required key "%s"; finalize_output needs it to find the image model' % key)
    directory = os.path.join(settings.output_directory, "submodel_" + model_id(settings))
    fit_info, network = outputs.read_image_model(directory)
    if fit_info.get("holdout_images") is None:
        raise InputError("the image model in %s has no holdout images: its image_training job needs "
                         '"return_holdout_images": true' % directory)
    final = final_document(fit_info, network)
    report.message("Creating holdout predictions", 0.1)
    wrapper = sensenet_model(final)
    final["holdout_image_predictions"] = holdout_predictions(final, wrapper, fit_info, settings)
    return final, wrapper


def dense_model_document(settings, schema):
    """A standard_training model (`submodel_<job_id>`) with its trees and image network."""
    if settings.job_id is None:
        raise InputError('missing required key "job_id"; finalize_output needs the standard_training '
                         "job's to find its model")
    directory = os.path.join(settings.output_directory, "submodel_%s" % settings.job_id)
    fit_info, network = outputs.read_dense_model(directory)
    final = final_document(fit_info, network)
    final["trees"] = read_trees(settings) if network["uses_trees"] else None
    final["image_network"] = image_network(settings, schema)
    return final


def search_document(settings, schema):
    """A search's ensemble: the best submodels by their worst-case rank over the resamples."""
    from pyramid.worker import search

    found = sorted(glob.glob(os.path.join(settings.output_directory, "submodel_*", EVALUATIONS)))
    if not found:
        raise InputError("is_search: no search submodel in %s has evaluations.json; run the "
                         "search_submodel jobs first" % json.dumps(settings.output_directory))
    models = {}
    for path in found:
        directory = os.path.dirname(path)
        fit_info, network = outputs.read_dense_model(directory)
        models[directory] = (fit_info, network, outputs.read_json(path, "the evaluations"))
    ranking, kept = search.rank_models({key: value[2] for key, value in models.items()}, settings.model_fraction)
    first = models[kept[0]][0]
    final = {key: copy.deepcopy(first.get(key)) for key in ("class_index", "optypes", "output_exposition",
                                                              "preprocess", "weight_index")}
    final["networks"] = [{"layers": models[key][1]["layers"], "trees": models[key][1]["uses_trees"]} for key in kept]
    final["candidates"] = [candidate(models[key][0], value) for key, value in ranking]
    final["importances"] = search.mean_importances([models[key][0]["importances"] for key in kept])
    final["validation_metrics"] = search.combined_metrics([models[key][0]["evaluation_metrics"] for key in kept])
    uses_trees = any(network["trees"] for network in final["networks"])
    final["trees"] = read_trees(settings) if uses_trees else None
    final["image_network"] = image_network(settings, schema)
    return final


def candidate(fit_info, relative_value):
    options = fit_info["training_options"]
    return {
        "relative_value": relative_value,
        "evaluation_metrics": fit_info["evaluation_metrics"],
        "iterations": fit_info["iterations"],
        "elapsed_time": fit_info["elapsed_time"],
        "configuration_parameters": {key: options.get(key) for key in SEARCH_CONFIGURATION},
    }


def read_trees(settings):
    return outputs.read_json(os.path.join(settings.output_directory, TREES), "the tree embedding")


def image_network(settings, schema):
    """The trained image network of the workflow, or None without an image column."""
    if not schema.image_positions:
        return None
    directory = os.path.join(settings.output_directory, "submodel_" + model_id(settings))
    return outputs.load_image_network(directory).document_with_weights()["image_network"]


def final_document(fit_info, network):
    """The deepnet JSON: the fit info's keys, then the trained network."""
    final = {key: copy.deepcopy(fit_info[key]) for key in FIT_INFO_KEYS if key in fit_info}
    final.update({"layers": network["layers"], "trees": None, "image_network": network.get("image_network")})
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
