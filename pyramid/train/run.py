"""`pyramid_train`'s job: train every candidate within the time budget, keep the best."""

import hashlib
import json
import os
import time

from pyramid.detection.training import set_objectness_prior
from pyramid.errors import ConfigError
from pyramid.importers import keras, tf
from pyramid.nets import pretrained, readout_layers, topologies
from pyramid.nets.initial_model import check_initial_models, initial_document
from pyramid.nets.model import BuiltModel, network_document
from pyramid.train import devices, finalize
from pyramid.train.data import TrainingData
from pyramid.train.fit import CandidateResult, fit_candidate
from pyramid.train.records import Progress, TensorBoard, plot_checks

FINAL_MODEL = "final_model.json"
HOLDOUT_PREDICTIONS = "holdout_predictions.json"
FIT_INFO = "model_fit_info.json"
# Seconds to write final_model.json per network parameter (0.64 us measured here for
# resnet18's 240 MB, with a margin). Writing happens after training, so the training
# deadlines leave this much time for it.
WRITE_SECONDS_PER_PARAMETER = 0.8e-6


def log(message):
    print(message, flush=True)


def candidate_budget(remaining, candidates_left):
    """Seconds for the next candidate: an even share of what is left, never negative.

    Time a candidate does not use stays in `remaining` and so goes to those after it.
    """
    return max(0.0, remaining) / candidates_left


def train_candidates(config):
    """Train the candidates of `config` and write the best as final_model.json."""
    started = time.monotonic()
    deadline = started + config.max_total_time
    pretrained.check_pretrained_weights(config)
    check_initial_models(config)
    check_readout_widths(config)
    chief = devices.is_chief()
    if chief:
        os.makedirs(config.output_directory, exist_ok=True)

    data = TrainingData(config)
    log("Data: %s (%.1fs)" % (data.describe(), time.monotonic() - started))
    strategy = devices.choose_strategy()
    agreement = devices.Agreement()
    log("Training on %s" % devices.describe(strategy))

    results, best = [], None
    for index, (topology, method) in enumerate(config.candidates):
        # Time to write the best model so far is not shared out.
        reserve = write_seconds(best.parameters) if best else 0.0
        budget = candidate_budget(deadline - reserve - time.monotonic(), len(config.candidates) - index)
        if agreement.any(budget <= 0) and results:
            log("Skipping %s %s: no time left" % (topology, method))
            continue
        log("Testing %s %s for %.1f seconds" % (topology, method, budget))
        # A fresh Keras session per candidate; it must be left before entering the strategy.
        keras.backend.clear_session()
        with strategy.scope():
            result = train_candidate(
                topology, method, index, data, config, chief, time.monotonic() + budget, deadline
            )
        results.append(result)
        if chief:
            write_fit_info(config, result, data.objective)
        best = best_result(results, data.objective)

    log(results_table(results, data.objective))
    if agreement.active:
        log("Weights checksum of %s: %s" % (best.name, weights_checksum(best.document)))
    if not chief:
        log("Not the chief: the chief writes the results")
        return best
    write_outputs(config, data, best)
    log("Best result (%s, %s) written to %s" % (best.topology, best.method_label, final_model_path(config)))
    log("Total time %.1fs (max_total_time %gs)" % (time.monotonic() - started, config.max_total_time))
    return best


def weights_checksum(document):
    """A short digest of a model's layers and weights, to compare the workers of a cluster."""
    text = json.dumps([document["image_network"]["layers"], document["layers"]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_seconds(parameters):
    return parameters * WRITE_SECONDS_PER_PARAMETER


def train_candidate(topology, method, index, data, config, chief, deadline, run_deadline):
    """Build and train one candidate; its clock includes building the network.

    Training stops by `deadline`, and early enough that the network could still be written
    by `run_deadline` should it turn out best.
    """
    started = time.monotonic()
    keras.utils.set_random_seed(config.seed)
    built = build_candidate(topology, method, data, config)
    result = CandidateResult(topology, method, index)
    result.parameters = built.keras_model.count_params()
    deadline = min(deadline, run_deadline - write_seconds(result.parameters))
    result.time_budget = deadline - started
    progress = Progress(result.name, deadline - started, log)
    tensorboard = TensorBoard(
        os.path.join(config.output_directory, "tensorboard", result.directory) if chief else None
    )
    tensorboard.images(data.sample_images())
    read_before = data.images_read.total()
    fit_built(built, result, data, config, started, deadline, progress, tensorboard)
    log_images_read(data.images_read.total() - read_before, result, config)
    return result


def log_images_read(count, result, config):
    """How many training images this process's input pipeline read, against how many the
    whole run trained on: under several workers each reads only its share (plus the few
    batches its pipeline had read ahead when training stopped)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    log("  training images read by this process: %d; trained on: %d (%d iterations of %d, over %d %s)" % (
        count, result.iterations * config.batch_size, result.iterations, config.batch_size,
        replicas, "replica" if replicas == 1 else "replicas",
    ))


def fit_built(built, result, data, config, started, deadline, progress, tensorboard):
    """Train a built candidate until `deadline` (its clock started at `started`), reporting
    to `progress` and `tensorboard`, which are closed at the end; fills and returns `result`."""
    try:
        fit_candidate(built, data, config, deadline, result, progress, tensorboard)
    except tf.errors.InvalidArgumentError:
        # A file whose header looked fine but whose body does not decode (streaming mode).
        data.raise_unreadable()
        raise
    finally:
        progress.close()
        tensorboard.close()
    result.elapsed = time.monotonic() - started
    log("  %s: %d iterations in %.1fs, stopped: %s" % (result.name, result.iterations, result.elapsed, result.stop_reason))
    return result


def candidate_document(topology, data, config):
    """The sensenet document (weights as initializers) of a candidate network."""
    objective = data.objective
    if topology in topologies.DETECTION_TOPOLOGIES:
        return detector_document(topology, objective, config)
    image_network = topologies.image_network(topology, config.image_shape_hw, config.rescale_type)
    topologies.seed_layers(image_network["layers"], config.seed)
    if config.layers is not None:
        readout = readout_layers.with_defaults(config.layers)
    else:
        readout = topologies.default_readout(objective.n_outputs, objective.output_activation)
    topologies.seed_layers(readout, config.seed + 1)
    return network_document(image_network, readout, objective.output_exposition)


def detector_document(topology, objective, config):
    """A YOLO network's document: heads for the classes, anchors for the data, no readout."""
    anchors = objective.anchors(topologies.detection_branches(topology))
    network = topologies.detection_network(topology, config.input_image_shape[0], objective.n_outputs, anchors)
    topologies.seed_layers(network["layers"], config.seed)
    return network_document(network, [], objective.output_exposition)


def check_readout_widths(config):
    """A config's readout layers fit every candidate's image features (checked before any
    image is read: the widths depend on the topology and input size)."""
    if config.layers is None:
        return
    for topology, _ in config.candidates:
        if topology == "initial_model":
            continue  # an initial model brings its own readout
        network = topologies.image_network(topology, config.image_shape_hw, config.rescale_type)
        problem = readout_layers.residual_width_problem(config.layers, network["metadata"]["outputs"])
        if problem:
            raise ConfigError("%s (after the %d image features of %s)" % (problem, network["metadata"]["outputs"], topology))


def build_candidate(topology, method, data, config):
    """The Keras model of a candidate, with its starting weights."""
    if topology == "initial_model":
        document = initial_document(method, data.objective, config)
    else:
        document = candidate_document(topology, data, config)
    precision = devices.choose_precision(config.precision, document)
    log("  computing in %s" % precision)
    built = BuiltModel(document, precision)
    if method in pretrained.PRETRAINED_METHODS:
        pretrained.load_image_weights(built, pretrained.weights_path(topology, config))
    if built.head_layers and topology != "initial_model":
        set_objectness_prior(built, built.branches, data.objective.n_outputs)
    return built


def best_result(results, objective):
    best = None
    for result in results:
        if best is None or objective.is_better(result.metrics, best.metrics):
            best = result
    return best


def final_model_path(config):
    return os.path.join(config.output_directory, FINAL_MODEL)


def write_fit_info(config, result, objective):
    directory = os.path.join(config.output_directory, result.directory)
    finalize.write_json(os.path.join(directory, FIT_INFO), finalize.fit_info(result), indent=1)
    plot_checks(result.checks, objective.primary, result.name, os.path.join(directory, "holdout.png"))


def write_outputs(config, data, best):
    predictions = finalize.holdout_predictions(best, data, config)
    finalize.write_json(os.path.join(config.output_directory, HOLDOUT_PREDICTIONS), predictions)
    finalize.write_json(final_model_path(config), finalize.final_document(best, data, config))


def results_table(results, objective):
    columns = objective.columns
    header = "%-16s %-20s" % ("Network", "Training Type") + "".join(" %11s" % title for _, title in columns)
    header += " %10s %8s" % ("Iterations", "Seconds")
    lines = ["", header, "-" * len(header)]
    for result in results:
        row = "%-16s %-20s" % (result.topology, result.method_label)
        row += "".join(" %11.4f" % result.metrics[key] for key, _ in columns)
        row += " %10d %8.1f" % (result.iterations, result.elapsed)
        lines.append(row)
    lines.append("(candidates are compared on holdout %s)" % objective.primary)
    return "\n".join(lines + [""])
