"""Mixed precision and several replicas: sensenet still predicts what pyramid predicted."""

import os

import numpy as np
import pytest

from conftest import training_config, write_config
from test_commands import run
from test_training import PARITY_TOLERANCE, read_outputs, sensenet_predictions, train


def assert_sensenet_agrees(image_root, output):
    final, predictions = read_outputs(output)
    files = [os.path.join(image_root, p["file"]) for p in predictions]
    theirs = sensenet_predictions(os.path.join(output, "final_model.json"), files)
    np.testing.assert_allclose(theirs, [p["prediction"] for p in predictions], atol=PARITY_TOLERANCE, rtol=0)
    return final


def test_mixed_bfloat16_keeps_outputs_and_weights_float32(digits_dir, tmp_path):
    image_root, points = digits_dir
    output = str(tmp_path / "out")
    result = train(training_config(image_root, output, points, max_iterations=60, precision="mixed_bfloat16"))
    assert_sensenet_agrees(image_root, output)
    assert result.metrics["accuracy"] > 0.6


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_two_replicas_train_the_example(digits_dir, tmp_path, precision):
    image_root, points = digits_dir
    output = str(tmp_path / "out")
    config = training_config(image_root, output, points, max_iterations=40, precision=precision)
    finished = run(
        ["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)],
        env={"PYRAMID_CPU_DEVICES": "2"},
    )
    assert finished.returncode == 0, finished.stderr
    assert "Training on 2 replicas (device:CPU:0, device:CPU:1)" in finished.stdout
    assert "computing in %s" % precision in finished.stdout
    final = assert_sensenet_agrees(image_root, output)
    assert final["iterations"] == 40
