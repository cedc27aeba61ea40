"""The installed commands as a user runs them: exit codes, output lines, no tracebacks."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CHECKOUT, training_config, write_config


def run(arguments, stdin=None, timeout=300, env=None):
    environment = dict(os.environ, **(env or {}))
    # Run this checkout's code whatever the working directory.
    environment["PYTHONPATH"] = CHECKOUT
    return subprocess.run(
        [sys.executable, *arguments], input=stdin, capture_output=True, text=True,
        timeout=timeout, env=environment,
    )


def test_pyramid_train_runs_and_reports(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = training_config(image_root, str(tmp_path / "out"), points, max_total_time=600, max_iterations=20)
    path = write_config(tmp_path / "config.json", config)

    # --max-total-time overrides the config's 600 seconds.
    finished = run(["-m", "pyramid.commands.train", "--max-total-time", "30", path])
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == "Pyramid is parsing training file..."
    testing = [line for line in lines if line.startswith("Testing simple randomly_initialize for ")]
    assert 25 < float(testing[0].split()[-2]) <= 30
    assert any(line.startswith("simple           randomly_initialize") for line in lines)
    assert "Traceback" not in finished.stderr
    with open(tmp_path / "out" / "final_model.json") as stream:
        assert json.load(stream)["training_options"]["max_total_time"] == 30


@pytest.mark.parametrize("max_data_size", [10**9, 0], ids=["in-memory", "streamed"])
def test_corrupt_image_is_named_with_status_2(digits_dir, tmp_path, max_data_size):
    image_root, points = digits_dir
    broken = tmp_path / "broken.png"
    with open(os.path.join(image_root, points[0]["file"]), "rb") as stream:
        broken.write_bytes(stream.read()[:60])  # a PNG header, then nothing
    for point in points:
        point_root = os.path.join(image_root, point["file"])
        os.symlink(point_root, tmp_path / point["file"])
    points = points + [{"file": "broken.png", "label": "1"}]
    config = training_config(str(tmp_path), str(tmp_path / "out"), points, max_iterations=50,
                             max_data_size=max_data_size)
    finished = run(["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)])

    assert finished.returncode == 2
    assert finished.stderr.strip().count("\n") == 0, finished.stderr
    assert "broken.png" in finished.stderr and "Traceback" not in finished.stderr
    assert not (tmp_path / "out" / "final_model.json").exists()


def test_a_file_sensenet_would_misread_is_refused_before_training(digits_dir, tmp_path):
    from PIL import Image

    image_root, points = digits_dir
    for point in points:
        os.symlink(os.path.join(image_root, point["file"]), tmp_path / point["file"])
    # A BMP named .png: sensenet would decode it with TensorFlow's JPEG decoder, and fail.
    Image.open(os.path.join(image_root, points[0]["file"])).save(tmp_path / "bitmap.png", "BMP")
    points = points + [{"file": "bitmap.png", "label": "1"}]
    config = training_config(str(tmp_path), str(tmp_path / "out"), points, max_iterations=5)
    finished = run(["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)])

    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "pyramid_train: cannot read image %s: it is a BMP file named .png; sensenet decodes "
        ".png files with TensorFlow's JPEG decoder, which cannot read it: rename it .bmp "
        "(sensenet then reads it with Pillow)"
        % (tmp_path / "bitmap.png")
    )
    assert not any(line.startswith("Testing") for line in finished.stdout.splitlines())


def test_package_imports_without_a_gpu():
    finished = run(
        ["-c", "import pyramid.train.run, pyramid.importers as i; print(i.tf.config.list_physical_devices('GPU'))"],
        env={"CUDA_VISIBLE_DEVICES": ""},
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().splitlines()[-1] == "[]"


def test_visualize_writes_contact_sheets_and_trains_nothing(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = training_config(
        image_root, str(tmp_path / "out"), points,
        augmentation_ranges={"rotation": 20, "cutout": 0.3, "horizontal_flip": True},
    )
    finished = run(["-m", "pyramid.commands.train", "--visualize=2", write_config(tmp_path / "c.json", config)])
    assert finished.returncode == 0, finished.stderr
    sheets = [line for line in finished.stdout.splitlines() if line.endswith(".png")]
    assert sheets == [str(tmp_path / "out" / "visualize" / ("batch_%03d.png" % n)) for n in (1, 2)]
    from PIL import Image

    with Image.open(sheets[0]) as sheet:
        assert sheet.size[0] >= 4 * 64  # 16 tiles of at least 64 pixels, 4 to a row
    assert not (tmp_path / "out" / "final_model.json").exists()


def test_progress_bar_on_a_terminal_and_records(digits_dir, tmp_path):
    image_root, points = digits_dir
    output = tmp_path / "out"
    config = training_config(image_root, str(output), points, max_iterations=30)
    command = "%s -m pyramid.commands.train %s" % (sys.executable, write_config(tmp_path / "c.json", config))
    # `script` runs the command on a pseudo-terminal, as a user at a shell would.
    finished = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=CHECKOUT), cwd=str(tmp_path),
    )
    assert finished.returncode == 0, finished.stdout[-2000:]
    assert "simple randomly_initialize: " in finished.stdout and "%|" in finished.stdout
    assert "best likelihood" in finished.stdout

    candidate = output / "submodel_simple_randomly_initialize"
    assert (candidate / "holdout.png").stat().st_size > 1000
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(output / "tensorboard" / "submodel_simple_randomly_initialize"))
    events.Reload()
    tags = events.Tags()
    assert {"holdout/likelihood", "holdout/accuracy", "learning_rate", "training_loss"} <= set(tags["tensors"])
    assert "augmented training images" in tags["tensors"] or tags["images"]
