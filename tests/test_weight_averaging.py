"""The moving average of the weights (`weight_averaging`): what the optimizer keeps, what
checks evaluate, and what pyramid_train writes."""

import os

import numpy as np
import pytest

from conftest import training_config
from pyramid.importers import keras, tf
from pyramid.train import weight_averaging
from pyramid.train.weight_averaging import WeightAveraging
from test_training import PARITY_TOLERANCE, read_outputs, sensenet_predictions, train


def small_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.layers.Dense(4, input_shape=(3,)), keras.layers.Dense(2)])


def averaged_sgd(averaging, base=None, rate=0.1):
    return averaging.build(base or keras.optimizers.SGD, rate)


def test_the_average_follows_each_step_with_the_momentum_of_its_step_count():
    """The momentum is a function of the optimizer's step, applied at every step (not at the
    controller's decisions, whose timing varies): the same run averages the same way."""
    model = small_model()
    averaging = WeightAveraging(0.3)
    model.compile(optimizer=averaged_sgd(averaging), loss="mse")

    rng = np.random.default_rng(0)
    inputs, targets = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    expected = [w.copy() for w in model.get_weights()]
    for step in range(6):
        model.train_on_batch(inputs, targets)
        momentum = min(0.3, 1 - 1 / (1 + weight_averaging.HORIZON_FRACTION * step))
        expected = [momentum * a + (1 - momentum) * w for a, w in zip(expected, model.get_weights())]
    raw = model.get_weights()

    with averaging.averaged(model):
        inside = model.get_weights()
    for got, want in zip(inside, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not all(np.array_equal(a, b) for a, b in zip(raw, inside))
    # Afterwards the model holds its own weights again, and the optimizer the average.
    for got, want in zip(model.get_weights(), raw):
        np.testing.assert_array_equal(got, want)
    with averaging.averaged(model):
        again = model.get_weights()
    for got, want in zip(again, inside):
        np.testing.assert_array_equal(got, want)


def test_the_momentum_spans_a_tenth_of_the_batches_up_to_the_maximum():
    averaging = WeightAveraging(0.99)
    averaging.start.assign(100)
    momenta = {step: float(averaging.momentum(tf.constant(step, tf.int64))) for step in (100, 110, 200, 1090, 5000)}
    assert momenta[100] == 0.0  # nothing to average yet: the weights themselves
    assert momenta[110] == pytest.approx(1 - 1 / (1 + weight_averaging.HORIZON_FRACTION * 10))
    assert momenta[200] == pytest.approx(1 - 1 / 11)
    assert momenta[1090] == pytest.approx(0.99)  # a horizon of 100 batches: the maximum
    assert momenta[5000] == pytest.approx(0.99)


def test_restart_puts_the_average_at_the_current_weights_and_step():
    model = small_model()
    averaging = WeightAveraging(0.9)
    model.compile(optimizer=averaged_sgd(averaging, keras.optimizers.Adam, 0.05), loss="mse")
    rng = np.random.default_rng(1)
    for _ in range(4):
        model.train_on_batch(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)))
    with averaging.averaged(model):
        before = model.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))

    averaging.restart(model)
    assert int(averaging.start.numpy()) == 4
    with averaging.averaged(model):
        after = model.get_weights()
    for got, want in zip(after, model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_training_writes_the_averaged_weights_it_checked(digits_dir, tmp_path):
    """The holdout predictions come from the checks, made with the averaged weights; the
    written model must predict exactly them, and differ from training without the average."""
    image_root, points = digits_dir
    results = {}
    for momentum in (0.0, 0.99):
        output = str(tmp_path / ("out%g" % momentum))
        train(training_config(image_root, output, points, max_iterations=120, weight_averaging=momentum))
        final, predictions = read_outputs(output)
        files = [os.path.join(image_root, p["file"]) for p in predictions]
        ours = np.array([p["prediction"] for p in predictions])
        theirs = sensenet_predictions(os.path.join(output, "final_model.json"), files)
        np.testing.assert_allclose(theirs, ours, atol=PARITY_TOLERANCE, rtol=0)
        assert final["training_options"]["weight_averaging"] == momentum
        results[momentum] = ours
    assert np.abs(results[0.0] - results[0.99]).max() > 1e-3


@pytest.mark.slow  # 35 s: two processes on two logical devices
def test_two_replicas_under_loss_scaling_write_the_averaged_weights(digits_dir, tmp_path):
    """The average kept by each replica's optimizer (mirrored variables), under
    mixed_float16's loss-scaling optimizer: still what the checks judged and what is written."""
    from conftest import write_config
    from test_commands import run
    from test_devices import assert_sensenet_agrees

    image_root, points = digits_dir
    output = str(tmp_path / "out")
    config = training_config(image_root, output, points, max_iterations=40, precision="mixed_float16",
                             weight_averaging=0.99)
    finished = run(["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)],
                   env={"PYRAMID_CPU_DEVICES": "2"})
    assert finished.returncode == 0, finished.stderr
    assert "Training on 2 replicas" in finished.stdout
    final = assert_sensenet_agrees(image_root, output)
    assert final["training_options"]["weight_averaging"] == 0.99
