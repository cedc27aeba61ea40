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


@pytest.mark.parametrize("max_data_size, balance", [(10**9, False), (0, True)], ids=["in-memory", "streamed-balanced"])
def test_input_pipelines_read_disjoint_shares_of_every_global_batch(digits_dir, tmp_path, max_data_size, balance):
    """Two workers of one replica each read the two halves of the batches one device reads,
    augmented as one machine with two replicas augments them, each half with its own draws."""
    from pyramid.augment.augmenter import Augmenter
    from pyramid.train.distributed_input import Share

    image_root, points = digits_dir
    ranges = {"zoom": 0.3, "brightness": 0.4}
    settings = dict(max_data_size=max_data_size, balance_objective=balance, batch_size=16)
    data = TrainingData(validate_train_config(
        training_config(image_root, str(tmp_path), points, augmentation_ranges=ranges, **settings)
    ))
    steps = 3
    whole = list(data.augmented_batches().take(steps))
    workers = [list(data.augmented_batches(share=Share(16, 2, worker, 1)).take(steps)) for worker in (0, 1)]
    machine = list(data.augmented_batches(share=Share(16, 2, 0, 2)).take(2 * steps))
    for step in range(steps):
        halves = [workers[worker][step] for worker in (0, 1)]
        assert [len(half["row"]) for half in halves] == [8, 8]
        np.testing.assert_array_equal(np.concatenate([half["row"] for half in halves]), whole[step]["row"])
        np.testing.assert_array_equal(
            np.concatenate([half["target"] for half in halves]), whole[step]["target"]
        )
        for worker in (0, 1):
            np.testing.assert_array_equal(halves[worker]["image"], machine[2 * step + worker]["image"])

    # Worker 1's first batch is augmented as batch 1 of the stream, not as worker 0's batch 0.
    plain = TrainingData(validate_train_config(training_config(image_root, str(tmp_path), points, **settings)))
    raw = next(iter(plain.augmented_batches(share=Share(16, 2, 1, 1))))
    np.testing.assert_array_equal(raw["row"], workers[1][0]["row"])
    augment = Augmenter(data.config.augmentations, data.augmentation_seed)
    np.testing.assert_allclose(augment(raw["image"], 1).numpy(), workers[1][0]["image"], atol=1e-4)
    assert np.abs(augment(raw["image"], 0).numpy() - workers[1][0]["image"]).max() > 10


def test_share_numbers_every_replica_batch_of_the_cluster_once():
    from pyramid.train.distributed_input import Share

    # 2 workers x 2 replicas: worker 1's batches are replicas 2 and 3 of each step.
    numbers = [[Share(32, 4, first, 2).batch_number(n) for n in range(6)] for first in (0, 2)]
    assert numbers == [[0, 1, 4, 5, 8, 9], [2, 3, 6, 7, 10, 11]]
