"""`pyramid_evaluate`: a written model scored on labelled images, in batches, agrees with
sensenet's own predictions one image at a time."""

import json
import os

import numpy as np
import pytest

from conftest import training_config, write_digits
from pyramid.config import validate_train_config
from pyramid.errors import InputError
from pyramid.evaluation import evaluate, load_points
from pyramid.train.run import train_candidates
from test_commands import run
from test_training import sensenet_predictions


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, digits_dir):
    image_root, points = digits_dir
    output = tmp_path_factory.mktemp("classifier")
    train_candidates(validate_train_config(training_config(image_root, str(output), points, max_iterations=30)))
    return image_root, points, os.path.join(str(output), "final_model.json")


def test_accuracy_is_sensenets(classifier):
    image_root, points, model = classifier
    chosen = [{"file": p["file"], "label": p["label"]} for p in points[:50]]
    metrics = evaluate(model, chosen, image_root)
    theirs = sensenet_predictions(model, [os.path.join(image_root, p["file"]) for p in chosen])
    with open(model) as stream:
        classes = json.load(stream)["output_exposition"]["values"]
    expected = np.mean(np.argmax(theirs, axis=1) == [classes.index(p["label"]) for p in chosen])
    assert metrics["accuracy"] == pytest.approx(expected)
    assert set(metrics) == {"accuracy", "auc", "likelihood", "max_phi", "ndcg"}


def test_r_squared_is_sensenets(tmp_path):
    image_root = str(tmp_path / "images")
    points = write_digits(image_root, 60, classes=(1, 7), seed=2)
    for point in points:
        point["label"] = float(point["digit"])
    output = str(tmp_path / "out")
    train_candidates(validate_train_config(training_config(image_root, output, points, max_iterations=30)))
    model = os.path.join(output, "final_model.json")
    chosen = [{"file": p["file"], "label": p["label"]} for p in points]
    metrics = evaluate(model, chosen, image_root)
    theirs = sensenet_predictions(model, [os.path.join(image_root, p["file"]) for p in chosen])[:, 0]
    truth = np.array([p["label"] for p in chosen])
    expected = 1 - np.mean((theirs - truth) ** 2) / np.var(truth)
    assert metrics["r_squared"] == pytest.approx(expected, abs=1e-5)


def test_the_command_reads_a_data_file_and_prints_the_metrics(classifier, tmp_path):
    image_root, points, model = classifier
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"image_root": image_root, "test_data": [{"file": p["file"], "label": p["label"]} for p in points[:20]]}))
    finished = run(["-m", "pyramid.commands.evaluate", str(data), model])
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    assert summary["images"] == 20 and 0 <= summary["accuracy"] <= 1


def test_bad_data_gets_one_line_and_status_2(classifier, tmp_path):
    image_root, points, model = classifier
    cases = {
        "unknown-label": ([{"file": points[0]["file"], "label": "9"}],
                          'point 0: label "9" is not one of the model\'s classes ["0", "1", "2"]'),
        "missing-image": ([{"file": "nowhere.png", "label": "1"}], "nowhere.png: no such file"),
        "no-points": ([], "holds no points"),
    }
    for name, (data_points, expected) in cases.items():
        data = tmp_path / ("%s.json" % name)
        data.write_text(json.dumps(data_points))
        finished = run(["-m", "pyramid.commands.evaluate", "--image-root", image_root, str(data), model])
        assert finished.returncode == 2, name
        assert expected in finished.stderr and finished.stderr.count("\n") == 1, finished.stderr
    with pytest.raises(InputError, match="must hold a list of points, or an object with one of test_data"):
        (tmp_path / "odd.json").write_text(json.dumps({"points": []}))
        load_points(str(tmp_path / "odd.json"))
