"""What the training batches hold: class balance, smoothed targets, cheating, weights."""

import numpy as np
import pytest

from conftest import training_config
from pyramid.config import validate_train_config
from pyramid.train.data import TrainingData


def imbalanced(points):
    """All of class 0 and 1, and a sixth of class 2."""
    twos = [p for p in points if p["label"] == "2"]
    return [p for p in points if p["label"] != "2"] + twos[: len(twos) // 6]


def class_shares(data, batches=40):
    counts = np.zeros(3)
    for batch in data.augmented_batches().take(batches):
        counts += batch["target"].numpy().round().sum(axis=0)
    return counts / counts.sum()


@pytest.mark.parametrize("balance", [True, False])
def test_balance_objective_is_honoured(digits_dir, tmp_path, balance):
    image_root, points = digits_dir
    points = imbalanced(points)
    data = TrainingData(validate_train_config(
        training_config(image_root, str(tmp_path), points, balance_objective=balance)
    ))
    shares = class_shares(data)
    if balance:
        np.testing.assert_allclose(shares, [1 / 3] * 3, atol=0.05)
    else:
        train_labels = np.array([points[row]["label"] for row in data.train_rows])
        expected = [np.mean(train_labels == c) for c in ("0", "1", "2")]
        np.testing.assert_allclose(shares, expected, atol=0.05)
        assert shares[2] < 0.15


def test_label_smoothing_targets(digits_dir, tmp_path):
    image_root, points = digits_dir
    data = TrainingData(validate_train_config(
        training_config(image_root, str(tmp_path), points, label_smoothing_factor=0.3)
    ))
    targets = data.row_values["target"]
    assert targets.shape == (len(points), 3)
    for row, point in enumerate(points[:10]):
        expected = np.full(3, 0.1, np.float32)
        expected[int(point["label"])] = 0.8  # the README's example: [0.1, 0.8, 0.1]
        np.testing.assert_allclose(targets[row], expected, rtol=1e-6)


def test_cheat_on_validation_trains_on_the_holdout_too(digits_dir, tmp_path):
    image_root, points = digits_dir
    honest = TrainingData(validate_train_config(training_config(image_root, str(tmp_path), points)))
    cheat = TrainingData(validate_train_config(
        training_config(image_root, str(tmp_path), points, cheat_on_validation=True)
    ))
    assert not set(honest.train_rows) & set(honest.holdout_rows)
    assert list(cheat.train_rows) == list(range(len(points)))
    assert list(cheat.holdout_rows) == list(honest.holdout_rows)


def test_weights_are_relative(digits_dir, tmp_path):
    image_root, points = digits_dir
    weighted = [dict(p, weight=4.0 if p["label"] == "0" else 1.0) for p in points]
    config = training_config(image_root, str(tmp_path), points)
    config["training_data"] = [{"file": p["file"], "label": p["label"], "weight": p["weight"]} for p in weighted]
    data = TrainingData(validate_train_config(config))
    assert data.weights.mean() == pytest.approx(1.0)
    zero = np.array([p["label"] == "0" for p in points])
    assert data.weights[zero][0] == pytest.approx(4 * data.weights[~zero][0])


def test_the_run_says_how_many_classes_the_holdout_misses(digits_dir, tmp_path):
    image_root, points = digits_dir
    data = TrainingData(validate_train_config(
        training_config(image_root, str(tmp_path), points, holdout_set_size=2)
    ))
    assert len(data.holdout_rows) == 2 and data.missed_classes == 1
    assert data.describe() == (
        "118 training rows, 2 holdout rows, images in memory; the holdout misses 1 of 3 "
        "classes (more classes than holdout rows, or classes of one row)"
    )
    whole = TrainingData(validate_train_config(training_config(image_root, str(tmp_path), points)))
    assert whole.missed_classes == 0 and "misses" not in whole.describe()
