"""The training loop's own mechanics: several batches per Keras execution with exact counts,
and the jit_compile (XLA) setting reaching Keras, with sensenet parity."""

import os
import time

from conftest import training_config
from pyramid.config import validate_train_config
from test_devices import assert_sensenet_agrees


def fit_directly(config_dict):
    """Train the config's first candidate as pyramid_train does; (the BuiltModel, its
    CandidateResult, the data, the config), so that the Keras model can be looked at."""
    from pyramid.importers import keras
    from pyramid.train import devices
    from pyramid.train.data import TrainingData
    from pyramid.train.fit import CandidateResult, fit_candidate
    from pyramid.train.records import Progress, TensorBoard
    from pyramid.train.run import build_candidate

    config = validate_train_config(config_dict)
    data = TrainingData(config)
    keras.backend.clear_session()
    with devices.choose_strategy().scope():
        keras.utils.set_random_seed(config.seed)
        topology, method = config.candidates[0]
        built = build_candidate(topology, method, data, config)
        result = CandidateResult(topology, method)
        progress = Progress(result.name, 60, lambda text: None)
        fit_candidate(built, data, config, time.monotonic() + 600, result, progress, TensorBoard(None))
    return built, result, data, config


def test_max_iterations_trains_exactly_that_many_batches_in_fewer_executions(digits_dir, tmp_path):
    image_root, points = digits_dir
    # 96 training rows in batches of 4: passes of 24 batches; 261 ends inside the 11th pass,
    # well after the switch to several batches per execution (after 200).
    built, result, _, _ = fit_directly(training_config(
        image_root, str(tmp_path), points, batch_size=4, max_iterations=261, max_seconds_per_update=0.3,
        jit_compile=False,
    ))
    assert result.stop_reason == "max_iterations reached"
    assert result.iterations == 261
    assert int(built.keras_model.optimizer.iterations.numpy()) == 261  # batches really trained
    assert result.executions < 261 - 20  # executions after the switch ran several batches
    iterations = [check["iteration"] for check in result.checks]
    assert iterations == sorted(iterations) and iterations[-1] <= 261
    assert set(range(0, 261, 24)) <= set(iterations)  # a check at the end of every pass, exactly
    assert built.keras_model.jit_compile is False


def test_xla_is_off_by_default(digits_dir, tmp_path):
    image_root, points = digits_dir
    assert validate_train_config(training_config(image_root, str(tmp_path), points)).jit_compile is False


def test_jit_compile_true_trains_with_xla_and_keeps_sensenet_parity(digits_dir, tmp_path):
    from pyramid.train.run import write_outputs

    image_root, points = digits_dir
    output = str(tmp_path / "out")
    built, result, data, config = fit_directly(training_config(
        image_root, output, points, max_iterations=60, jit_compile=True, precision="float32",
    ))
    assert built.keras_model.jit_compile is True
    os.makedirs(output)
    write_outputs(config, data, result)
    assert_sensenet_agrees(image_root, output)
    assert result.metrics["likelihood"] > result.checks[0]["likelihood"]
