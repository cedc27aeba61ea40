"""Batches of cached feature rows (`pyramid.data.rows`): stateless order, class balancing,
and mixup in graph ops."""

import numpy as np

from pyramid.data import rows


def wine():
    from sklearn.datasets import load_wine

    data = load_wine()
    features = ((data.data - data.data.mean(0)) / data.data.std(0)).astype(np.float32)
    targets = np.eye(3, dtype=np.float32)[data.target]
    return features, targets, data.target


def take(dataset, count):
    return [tuple(part.numpy() for part in batch) for batch in dataset.take(count)]


def test_batches_are_the_rows_and_repeat_for_a_seed():
    features, targets, _ = wine()
    weights = np.linspace(0.5, 1.5, len(features)).astype(np.float32)
    train = np.arange(0, len(features), 2)
    first = take(rows.training_batches(features, targets, weights, train, 16, seed=4), 12)
    again = take(rows.training_batches(features, targets, weights, train, 16, seed=4), 12)
    other = take(rows.training_batches(features, targets, weights, train, 16, seed=5), 12)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    for inputs, target, weight in first:
        assert inputs.shape == (16, 13) and target.shape == (16, 3) and weight.shape == (16,)
        found = [int(np.flatnonzero((features == row).all(axis=1))[0]) for row in inputs]
        assert all(index in train for index in found)  # only training rows
        assert np.array_equal(target, targets[found]) and np.allclose(weight, weights[found])


def test_balanced_batches_draw_every_class_equally():
    features, targets, classes = wine()
    keep = np.concatenate([np.flatnonzero(classes == 0), np.flatnonzero(classes == 1)[:10],
                           np.flatnonzero(classes == 2)])
    batches = take(rows.training_batches(features, targets, np.ones(len(features)), keep, 64, seed=1,
                                         balance_classes=classes), 30)
    counts = np.sum([target.sum(axis=0) for _, target, _ in batches], axis=0)
    assert np.all(np.abs(counts / counts.sum() - 1 / 3) < 0.04), counts


def test_mixup_mixes_inputs_targets_and_weights_alike():
    features, targets, _ = wine()
    weights = np.ones(len(features), np.float32)
    plain = take(rows.training_batches(features, targets, weights, np.arange(len(features)), 32, seed=2), 5)
    mixed = take(rows.training_batches(features, targets, weights, np.arange(len(features)), 32, seed=2,
                                       mixup_alpha=0.4), 5)
    again = take(rows.training_batches(features, targets, weights, np.arange(len(features)), 32, seed=2,
                                       mixup_alpha=0.4), 5)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(mixed, again))
    for (inputs, target, weight), (plain_inputs, plain_target, _) in zip(mixed, plain):
        assert np.allclose(target.sum(axis=1), 1) and np.allclose(weight, 1)
        # Each mixed row is lam * its own row + (1 - lam) * a partner of the same batch, with
        # the same lam in its target: find the partner and lam that explain the inputs.
        for row in range(len(inputs)):
            explained = False
            for partner in range(len(inputs)):
                direction = plain_inputs[row] - plain_inputs[partner]
                if not direction.any():
                    continue
                lam = float(np.dot(inputs[row] - plain_inputs[partner], direction) / np.dot(direction, direction))
                if np.abs(lam * direction + plain_inputs[partner] - inputs[row]).max() < 1e-4:
                    expected = lam * plain_target[row] + (1 - lam) * plain_target[partner]
                    explained = 0 <= lam <= 1 and np.allclose(target[row], expected, atol=1e-4)
                    break
            assert explained or np.allclose(inputs[row], plain_inputs[row], atol=1e-4), row
        assert not np.allclose(inputs, plain_inputs)
