"""standard_training and search_submodel: a dense network on the rows dataset_caching wrote.

The network is `layers` (sensenet layer descriptions) on the cached features (tree features
when the job's `tree_embedding` says so, then the inputs), fitted by pyramid_train's loop
(`pyramid.train.fit`: holdout checks, patience, learning-rate step-downs, the best check's
weights, `max_iterations`, `max_training_time` from the job's start) on batches drawn in
graph ops (`pyramid.data.rows`: class-balanced with `balance_objective`, mixup with
`mixup_alpha`), rows weighted by their instance weight and `class_weights`.

It writes `submodel_<job_id>/`: `model_fit_info.json`, `model_weights.h5` and `network.json`
(the layers with initializers, whether the model uses the tree features, its input width);
a search submodel also `evaluations.json`, its metrics on 128 stratified resamples of
`evaluation_dataset.npy`, and echoes its 14 configuration keys. Importances are Shapley
values per original input field (`pyramid.worker.importances`).

Choice: the earlier implementation trained a dense network in one phase; this one steps the
learning rate down as image training does (x1/4, then x1/16), which only continues training
that would otherwise have stopped.
"""

import json
import os

import numpy as np

from pyramid.errors import InputError
from pyramid.importers import keras
from pyramid.nets import readout_layers
from pyramid.nets.dense import DenseModel
from pyramid.train import devices
from pyramid.train.fit import CandidateResult
from pyramid.train.loss_settings import LOSSES
from pyramid.train.records import TensorBoard
from pyramid.train.run import fit_built
from pyramid.worker import cache, outputs
from pyramid.worker.cached_rows import CachedColumns, CachedRows, input_widths, objective_for
from pyramid.worker.training_job import class_weight_per_row, deadline, stop_message
from pyramid.worker.metrics import for_backend
from pyramid.worker.progress import TrainingProgress
from pyramid.worker.settings import configuration_parameters

EVALUATION = "evaluation_dataset.npy"
IMPORTANCE = "importance_dataset.npy"
TREE_IMPORTANCES = "tree_importances.json"
EVALUATIONS = "evaluations.json"
METHOD = "randomly_initialize"  # pyramid.train.fit's plan for a network trained from scratch


def run_standard(settings, document, report):
    return run(settings, document, report, search=False)


def run_search(settings, document, report):
    return run(settings, document, report, search=True)


def run(settings, document, report, search):
    schema = cache.Schema(settings.info_list, settings.instance_weights)
    widths = input_widths(settings, schema)
    report.message("Reading data from cache...")
    columns = CachedColumns(settings.cache_file, settings, schema, widths, bool(settings.tree_embedding))
    data = CachedRows(columns, settings, schema, row_class_weights(settings, schema, columns))
    report.message("Total training rows: %d" % len(columns.features))
    report.message("%d training, %d holdout" % (len(data.train_rows), len(data.holdout_rows)))
    check_layers(settings, data.objective)

    report.message("Creating TF model...")
    keras.backend.clear_session()
    until = deadline(report, settings)
    with devices.choose_strategy().scope():
        keras.utils.set_random_seed(settings.seed)
        model = DenseModel(settings.layers, columns.features.shape[1], settings.seed)
        result = CandidateResult("dense", METHOD)
        report.message("Fitting with learning rate %f..." % settings.learning_rate)
        progress = TrainingProgress(report, data.objective.name, settings, for_backend)
        fit_built(model, result, data, settings, report.started, until, progress, TensorBoard(None))
        report.message(stop_message(result, settings), report.last_progress)
        metrics = for_backend(result.metrics)
        evaluation = evaluate(settings, schema, widths, model, columns.uses_trees) if search else None
        importances = field_importances(settings, model, widths, columns)
        info = fit_info(settings, document, schema, result, metrics, evaluation, importances)
        write_model(settings, model, columns, info, evaluation)
    return {
        "validation_metrics": metrics,
        "evaluation_metrics": evaluation["metrics"] if search else None,
        "iterations": result.iterations,
        "elapsed_time": result.elapsed,
        "job_id": settings.job_id,
        "configuration_parameters": configuration_parameters(settings) if search else None,
        "base_image_network": None,
        "image_training_type": None,
    }


def row_class_weights(settings, schema, columns):
    if settings.class_weights is None or schema.objective["type"] != cache.CATEGORICAL:
        return None
    return class_weight_per_row(settings.class_weights, schema.objective["values"], columns.objective.argmax(axis=1))


def check_layers(settings, objective):
    """`layers` that sensenet builds, with one output per class (or one), ending in the
    activation `loss_function` needs."""
    try:
        readout_layers.check_layers(settings.layers)
    except readout_layers.LayerError as error:
        raise InputError("%s: %s" % (error.where, error)) from None
    loss = LOSSES[settings.loss_function]
    if loss.objective != objective.name:
        raise InputError('loss_function: "%s" is for %s objectives, but the objective is %s'
                         % (settings.loss_function, loss.objective, objective.name))
    width = readout_layers.output_width(settings.layers)
    if width != objective.n_outputs:
        raise InputError("layers: the last dense layer has %s outputs; the objective needs %d"
                         % (width, objective.n_outputs))
    activation = readout_layers.final_activation(settings.layers)
    if activation != loss.output_activation:
        raise InputError('layers: the network ends with the activation "%s", but loss_function "%s" needs "%s"'
                         % (activation, settings.loss_function, loss.output_activation))


def evaluate(settings, schema, widths, model, use_trees):
    """A search submodel's metrics on evaluation_dataset.npy, all rows and 128 resamples."""
    from pyramid.worker import search

    path = os.path.join(settings.output_directory, EVALUATION)
    columns = CachedColumns(path, settings, schema, widths, use_trees)
    objective = objective_for(schema, columns.objective)
    outputs_ = model.evaluation_model().predict(columns.features, batch_size=1024, verbose=0)
    rows = np.arange(len(columns.features))
    predictions = objective.predictions(outputs_, rows, model.document)
    overall, resamples = search.evaluations(objective, predictions, objective.truth(rows), columns.weights)
    return {"metrics": overall, "resamples": resamples}


def field_importances(settings, model, widths, columns):
    """Shapley importances per original input field, against importance_dataset.npy."""
    from pyramid.worker.importances import field_importances as shapley

    if len(widths) <= 1:
        return [1.0]
    reference = np.load(os.path.join(settings.output_directory, IMPORTANCE))[:, :-1]
    tree_shares = None
    if columns.uses_trees:
        with open(os.path.join(settings.output_directory, TREE_IMPORTANCES)) as stream:
            tree_shares = json.load(stream)
    else:
        reference = reference[:, columns.tree_columns:]
    fields = np.repeat(np.arange(len(widths)), widths)
    return shapley(model.evaluation_model(), reference.astype(np.float32), fields, tree_shares,
                   columns.tree_columns if columns.uses_trees else 0, n_fields=len(widths))


def fit_info(settings, document, schema, result, metrics, evaluation, importances):
    return {
        "class_index": schema.objective_position,
        "elapsed_time": result.elapsed,
        "evaluation_metrics": evaluation["metrics"] if evaluation else None,
        "importances": importances,
        "iterations": result.iterations,
        "optypes": schema.optypes,
        "output_exposition": schema.output_exposition,
        "preprocess": schema.preprocess,
        "training_options": document,
        "validation_metrics": metrics,
        "weight_index": schema.weight_position,
        "stop_reason": result.stop_reason,
    }


def write_model(settings, model, columns, info, evaluation):
    directory = os.path.join(settings.output_directory, "submodel_%s" % settings.job_id)
    os.makedirs(directory, exist_ok=True)
    outputs.check_finite(info, "model_fit_info.json")
    outputs.write_weights(os.path.join(directory, outputs.WEIGHTS), model.evaluation_model())
    network = dict(model.document, uses_trees=columns.uses_trees, width=columns.features.shape[1])
    outputs.write_json(os.path.join(directory, outputs.NETWORK), network)
    if evaluation is not None:
        outputs.write_json(os.path.join(directory, EVALUATIONS), evaluation["resamples"])
    outputs.write_json(os.path.join(directory, outputs.FIT_INFO), info, indent=1)
