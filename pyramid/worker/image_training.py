"""image_training: train one image network on a job's images and leave it for the jobs after it.

The first job of a workflow with an image column. Its points come from the `.ser` cache (the
image column and the objective; a weight column with `instance_weights`), a `.json` list of
points, or `image_training_data`. It trains `base_image_network` with `image_training_type`
on pyramid_train's engine, for at most `max_training_time` seconds from the job's start, and
writes `submodel_<base_image_network>_<image_training_type>/`:
- `model_fit_info.json`: the keys the backend and finalize read (worker-jobs.md section 4);
- `model_weights.h5`: the trained weights (Keras HDF5, float32);
- `network.json`: the network's document with initializers instead of weights, which
  `model_weights.h5` fills (finalize and caching rebuild the network from it, whatever the
  document they are given says).

Choices: categorical image training always balances its batches over the classes, as the
earlier implementation did; `class_weights` multiply the rows' weights; rows of weight 0 or
without an objective value are left out (said in the log); a negative weight counts as its
absolute value, as before. Optimizer settings the chosen algorithm does not take are ignored,
not refused: the backend's base document carries them for every job.
"""

import json
import os
import re

import numpy as np

from pyramid.config import TrainConfig, validate_train_config
from pyramid.errors import ConfigError, InputError
from pyramid.importers import keras
from pyramid.train import devices, optimizer_settings
from pyramid.train.data import TrainingData
from pyramid.train.fit import CandidateResult
from pyramid.train.records import TensorBoard
from pyramid.train.run import build_candidate, check_readout_widths, fit_built
from pyramid.nets import pretrained
from pyramid.nets.initial_model import check_initial_models
from pyramid.worker import cache, outputs
from pyramid.worker.metrics import for_backend
from pyramid.worker.progress import TrainingProgress
from pyramid.worker.settings import image_network, model_id
from pyramid.worker.training_job import (
    NO_TIME_LIMIT, class_weight_per_row, deadline, stop_message,
)

# pyramid_train keys a job document gives as they are (the others are built here).
SHARED_KEYS = tuple(
    key for key in TrainConfig.model_fields
    if key not in ("training_data", "image_root", "input_image_shape", "output_directory",
                   "image_network_candidates", "max_total_time", "balance_objective",
                   "precision", "jit_compile", "augmentation_placement",
                   "pretrained_weights_directory")
)


def run(settings, document, report):
    topology = image_network(settings)
    job_id = model_id(settings)
    schema = cache.Schema(settings.info_list, settings.instance_weights)
    report.message("Reading data from cache...")
    config = engine_config(settings, schema, topology, report)
    report.message("Total training rows: %d" % len(config.training_data))
    pretrained.check_pretrained_weights(config)
    check_initial_models(config)
    check_readout_widths(config)
    data = TrainingData(config)
    report.message("%d training, %d holdout" % (len(data.train_rows), len(data.holdout_rows)))

    report.message("Creating TF model...")
    keras.backend.clear_session()
    until = deadline(report, settings)
    strategy = devices.choose_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        topology, method = config.candidates[0]
        built = build_candidate(topology, method, data, config)
        result = CandidateResult(topology, method)
        result.parameters = built.keras_model.count_params()
        result.time_budget = until - report.started
        report.message("Fitting image model...")
        report.message("Fitting with learning rate %f..." % config.learning_rate)
        progress = TrainingProgress(report, data.objective.name, settings, for_backend)
        fit_built(built, result, data, config, report.started, until, progress, TensorBoard(None))
        report.message(stop_message(result, settings), report.last_progress)
        metrics = for_backend(result.metrics)
        # In the strategy's scope: the replicas' batch-norm statistics are averaged on saving.
        directory = os.path.join(settings.output_directory, "submodel_" + job_id)
        info = fit_info(settings, document, schema, result, metrics, data, config)
        outputs.write_image_model(directory, built, info)
    return {
        "validation_metrics": metrics,
        "evaluation_metrics": None,
        "iterations": result.iterations,
        "elapsed_time": result.elapsed,
        "job_id": job_id,
        "configuration_parameters": None,
        "base_image_network": settings.base_image_network,
        "image_training_type": settings.image_training_type,
    }


def engine_config(settings, schema, topology, report):
    """pyramid_train's validated config for this job: its points, the shared keys as given,
    the classes (in info_list order) or the numeric scale from the objective's entry."""
    points = training_points(settings, schema, report)
    rows = [point.pop("row", None) for point in points]
    method = settings.initial_model if topology == "initial_model" else settings.image_training_type
    given = {key: getattr(settings, key) for key in SHARED_KEYS if getattr(settings, key, None) is not None}
    takes = optimizer_settings.OPTIMIZERS[settings.descent_algorithm].settings
    for key in optimizer_settings.SETTING_NAMES:
        if key not in takes:
            given.pop(key, None)
    given.update({
        "training_data": points,
        "image_root": settings.image_root,
        "input_image_shape": settings.input_image_shape,
        "output_directory": settings.output_directory,
        "image_network_candidates": [[topology, method]],
        "max_total_time": settings.max_training_time or NO_TIME_LIMIT,
        "balance_objective": settings.objective_type == "categorical",
    })
    exposition = schema.output_exposition
    if settings.objective_type == "bounding_box":
        exposition = None  # the classes are the boxes' labels
        given.pop("rescale_type")  # sensenet rescales a detector's images with pad
    try:
        return validate_train_config(given, exposition=exposition)
    except ConfigError as error:
        # Its points are the job's rows: name the row as the job gave it.
        raise InputError(re.sub(r"training_data\[(\d+)\]\.?", lambda found: "row %d of %s: " % (
            rows[int(found.group(1))] if rows[0] is not None else int(found.group(1)),
            source_name(settings)), str(error)).replace(": : ", ": ")) from None


def source_name(settings):
    if settings.image_training_data is not None:
        return "image_training_data"
    return "cache_file %s" % json.dumps(settings.cache_file)


def training_points(settings, schema, report):
    """pyramid_train's training points for the job's rows, in label units."""
    if settings.objective_type == "bounding_box":
        return box_points(settings)
    rows = cache.read_training_rows(schema, settings.cache_file, settings.cache_rows,
                                    settings.image_training_data)
    if len(schema.image_positions) != 1:
        raise InputError("info_list: image_training needs exactly one image column, found %d"
                         % len(schema.image_positions))
    files = rows.inputs[schema.image_positions[0]]
    weights = np.abs(rows.weights) if rows.weights is not None else np.ones(len(rows))
    objective = schema.output_exposition
    if settings.class_weights is not None and settings.objective_type == "categorical":
        weights = weights * class_weight_per_row(settings.class_weights, objective["values"], rows.objective)
    if settings.objective_type == "categorical":
        known = rows.objective >= 0
        labels = [objective["values"][int(i)] if i >= 0 else None for i in rows.objective]
    else:
        known = np.isfinite(rows.objective)
        # The cache holds standardised values; pyramid_train takes labels in label units.
        labels = list(rows.objective * objective["stdev"] + objective["mean"])
    kept = np.flatnonzero(known & (weights > 0))
    if len(kept) < len(rows):
        report.message("Leaving out %d of %d rows (no objective value, or weight 0)" % (len(rows) - len(kept), len(rows)))
    if not len(kept):
        raise InputError("cache_file: no row has an objective value and a weight above 0")
    return [{"file": files[i], "label": labels[i], "weight": float(weights[i]), "row": int(i)} for i in kept]


def box_points(settings):
    """A detection job's points, `{file, boxes}`, from `image_training_data` or the `.json`
    `cache_file`; pyramid_train's config checks them."""
    if settings.image_training_data is not None:
        return [dict(point) for point in settings.image_training_data]
    points = cache.read_points_file(settings.cache_file)
    if not isinstance(points, list):
        raise InputError("cache_file %s must hold a list of {file, boxes} points" % json.dumps(settings.cache_file))
    return points


def fit_info(settings, document, schema, result, metrics, data, config):
    """model_fit_info.json: what the backend and finalize read about the trained model."""
    holdout = None
    if settings.return_holdout_images:
        holdout = [[config.training_data[row].file, data.objective.stored_label(row)] for row in data.holdout_rows]
    return {
        "class_index": schema.objective_position,
        "elapsed_time": result.elapsed,
        "evaluation_metrics": None,
        "importances": [1.0],
        "iterations": result.iterations,
        "optypes": schema.optypes,
        "output_exposition": dict(schema.output_exposition) if settings.objective_type != "bounding_box"
        else data.objective.output_exposition,
        "preprocess": [schema.preprocess[schema.image_positions[0]]] if schema.image_positions
        else [{"type": "image", "index": 0}],
        "training_options": document,
        "validation_metrics": metrics,
        "weight_index": schema.weight_position,
        "holdout_images": holdout,
        "stop_reason": result.stop_reason,
    }
