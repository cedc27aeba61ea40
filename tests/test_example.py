"""The bundled example as the README runs it (slow), and the default run's skipping of slow
tests, which the README promises."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CHECKOUT
from test_commands import run


@pytest.mark.slow
def test_digits_example_reaches_its_accuracy(tmp_path):
    """The README's first command on the bundled example: 0.99 holdout accuracy."""
    with open(os.path.join(CHECKOUT, "examples", "digits", "config.json")) as stream:
        config = json.load(stream)
    config["image_root"] = os.path.join(CHECKOUT, "examples", "digits", config["image_root"])
    config["output_directory"] = str(tmp_path / "output")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    finished = run(["-m", "pyramid.commands.train", str(path)], timeout=600)
    assert finished.returncode == 0, finished.stderr
    with open(tmp_path / "output" / "final_model.json") as stream:
        final = json.load(stream)
    assert final["validation_metrics"]["accuracy"] >= 0.99


def test_the_default_run_skips_slow_tests():
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_example.py"],
        cwd=CHECKOUT, capture_output=True, text=True, timeout=300,
    )
    assert "test_digits_example_reaches_its_accuracy" not in listed.stdout
    assert "1 deselected" in listed.stdout
    chosen = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow", "tests/test_example.py"],
        cwd=CHECKOUT, capture_output=True, text=True, timeout=300,
    )
    assert "test_example.py::test_digits_example_reaches_its_accuracy" in chosen.stdout
