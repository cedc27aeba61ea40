"""The holdout metrics BigML's backend ranks on (max_phi, ndcg, median_absolute_error,
spearman_r), each against an independent computation, and the worker's backend signs."""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import matthews_corrcoef, ndcg_score, roc_curve

from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric
from pyramid.worker.metrics import NEGATED, for_backend


def categorical_metrics(probabilities, class_ids, weights=None, n_classes=None):
    n_classes = n_classes or probabilities.shape[1]
    classes = ["c%03d" % c for c in range(n_classes)]
    objective = Categorical([classes[c] for c in class_ids], classes)
    weights = np.ones(len(class_ids)) if weights is None else weights
    return objective.metrics(probabilities, objective.truth(np.arange(len(class_ids))), weights)


def numeric_metrics(predictions, truth, weights=None):
    objective = Numeric(truth)
    weights = np.ones(len(truth)) if weights is None else weights
    return objective.metrics(np.asarray(predictions, float), objective.truth(np.arange(len(truth))), weights)


def random_holdout(n, n_classes, seed, rounding=None):
    """Softmax probabilities that lean towards the truth, optionally rounded to make ties."""
    rng = np.random.default_rng(seed)
    class_ids = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes)) + 1.5 * np.eye(n_classes)[class_ids]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if rounding is not None:
        probabilities = np.round(probabilities, rounding)
    return probabilities, class_ids


def brute_max_phi(probabilities, class_ids, weights, thresholds_of=None):
    """Per present class, sklearn's matthews_corrcoef at every threshold, one at a time."""
    best = []
    for c in np.unique(class_ids):
        truth, scores = class_ids == c, probabilities[:, c]
        if thresholds_of is None:
            thresholds = np.append(np.unique(scores), np.inf)
        else:
            thresholds = thresholds_of(truth, scores, weights)
        best.append(max(matthews_corrcoef(truth, scores >= t, sample_weight=weights) for t in thresholds))
    return np.mean(best)


def brute_ndcg(probabilities, class_ids):
    """sklearn's ndcg_score called once per present class: one query, the rows its documents."""
    scores = [
        ndcg_score([(class_ids == c).astype(float)], [probabilities[:, c]]) for c in np.unique(class_ids)
    ]
    return np.mean(scores)


# Categorical -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, n_classes, seed, rounding", [(40, 3, 0, None), (60, 5, 1, 1), (30, 2, 2, 2), (25, 4, 3, 0)])
def test_max_phi_is_the_best_matthews_correlation_over_thresholds(n, n_classes, seed, rounding):
    probabilities, class_ids = random_holdout(n, n_classes, seed, rounding)
    ours = categorical_metrics(probabilities, class_ids)["max_phi"]
    assert ours == pytest.approx(brute_max_phi(probabilities, class_ids, None), abs=1e-12)
    # The same over roc_curve's thresholds (it drops the collinear ones).
    def roc_thresholds(truth, scores, weights):
        return roc_curve(truth, scores, sample_weight=weights)[2]

    assert ours == pytest.approx(brute_max_phi(probabilities, class_ids, None, roc_thresholds), abs=1e-12)


def test_max_phi_weighs_rows():
    probabilities, class_ids = random_holdout(50, 4, seed=4, rounding=1)
    weights = np.random.default_rng(5).uniform(0.0, 3.0, 50)
    weights[:3] = 0.0
    ours = categorical_metrics(probabilities, class_ids, weights)["max_phi"]
    assert ours == pytest.approx(brute_max_phi(probabilities, class_ids, weights), abs=1e-12)
    # Integer weights are repeated rows.
    counts = np.random.default_rng(6).integers(1, 4, 50)
    repeated = categorical_metrics(np.repeat(probabilities, counts, 0), np.repeat(class_ids, counts), n_classes=4)
    weighted = categorical_metrics(probabilities, class_ids, counts.astype(float))
    assert weighted["max_phi"] == pytest.approx(repeated["max_phi"], abs=1e-12)


@pytest.mark.parametrize("n, n_classes, seed, rounding", [(40, 3, 0, None), (60, 5, 1, 1), (30, 2, 2, 2), (25, 4, 3, 0)])
def test_ndcg_is_sklearns_per_class_column(n, n_classes, seed, rounding):
    probabilities, class_ids = random_holdout(n, n_classes, seed, rounding)
    ours = categorical_metrics(probabilities, class_ids)["ndcg"]
    assert ours == pytest.approx(brute_ndcg(probabilities, class_ids), abs=1e-12)
    # Not ndcg_score of the whole matrix, which ranks the classes within each row.
    assert ours != pytest.approx(ndcg_score(np.eye(n_classes)[class_ids], probabilities), abs=1e-6)


def test_ndcg_ignores_weights_and_averages_the_present_classes():
    probabilities, class_ids = random_holdout(30, 5, seed=7)
    class_ids[class_ids == 4] = 0  # class 4 absent from the holdout
    unweighted = categorical_metrics(probabilities, class_ids)
    weighted = categorical_metrics(probabilities, class_ids, np.linspace(0.1, 3, 30))
    assert weighted["ndcg"] == unweighted["ndcg"] == pytest.approx(brute_ndcg(probabilities, class_ids))


def test_perfect_and_known_categorical_values():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    metrics = categorical_metrics(probabilities, np.array([0, 1, 1, 1]))
    # Threshold 0.7 on class 1 separates perfectly; ranks are perfect for both columns.
    assert metrics["max_phi"] == pytest.approx(1.0)
    assert metrics["ndcg"] == pytest.approx(1.0)
    assert list(metrics) == ["accuracy", "auc", "likelihood", "max_phi", "ndcg"]


def test_categorical_degenerate_holdouts_are_finite():
    cases = {
        "one class present": (random_holdout(10, 3, 8)[0], np.zeros(10, int)),
        "one row": (np.array([[0.2, 0.8]]), np.array([1])),
        "constant predictions": (np.full((12, 3), 1 / 3), np.arange(12) % 3),
    }
    for name, (probabilities, class_ids) in cases.items():
        metrics = categorical_metrics(probabilities, class_ids)
        assert all(math.isfinite(value) for value in metrics.values()), (name, metrics)
    assert categorical_metrics(*cases["one class present"])["max_phi"] == 0.0
    assert categorical_metrics(*cases["one class present"])["ndcg"] == 1.0
    constant = categorical_metrics(*cases["constant predictions"])
    assert constant["max_phi"] == 0.0
    assert constant["ndcg"] == pytest.approx(brute_ndcg(*cases["constant predictions"]))


def test_a_large_holdout_is_quick():
    """4096 rows and 1000 classes: one sort per class, no threshold loop."""
    import time

    probabilities, class_ids = random_holdout(4096, 1000, seed=9, rounding=3)
    start = time.perf_counter()
    metrics = categorical_metrics(probabilities, class_ids)
    assert time.perf_counter() - start < 20
    assert all(0 <= metrics[key] <= 1 for key in ("max_phi", "ndcg"))
    # Spot-check a few classes against the brute force.
    few = np.isin(class_ids, np.unique(class_ids)[:3])
    sub = probabilities[few][:, np.unique(class_ids)[:3]]
    _, sub_ids = np.unique(class_ids[few], return_inverse=True)
    ours = categorical_metrics(sub, sub_ids)
    assert ours["max_phi"] == pytest.approx(brute_max_phi(sub, sub_ids, None), abs=1e-12)
    assert ours["ndcg"] == pytest.approx(brute_ndcg(sub, sub_ids), abs=1e-12)


# Numeric ---------------------------------------------------------------------------------


def test_median_absolute_error_is_numpys_median_with_unit_weights():
    rng = np.random.default_rng(10)
    for n in (1, 2, 7, 10):
        truth, predictions = rng.normal(size=n), rng.normal(size=n)
        metrics = numeric_metrics(predictions, truth)
        assert metrics["median_absolute_error"] == pytest.approx(np.median(np.abs(predictions - truth)), abs=1e-15)


def test_weighted_median_repeats_rows():
    rng = np.random.default_rng(11)
    truth, predictions = rng.normal(size=9), np.round(rng.normal(size=9), 1)
    counts = rng.integers(0, 4, 9)
    counts[0] = 2
    weighted = numeric_metrics(predictions, truth, counts.astype(float))
    repeated = np.median(np.abs(np.repeat(predictions - truth, counts)))
    assert weighted["median_absolute_error"] == pytest.approx(repeated, abs=1e-15)
    # A heavy row is the median.
    errors = np.array([1.0, 2.0, 3.0, 10.0])
    metrics = numeric_metrics(errors, np.zeros(4), np.array([1.0, 1.0, 1.0, 5.0]))
    assert metrics["median_absolute_error"] == 10.0


def test_spearman_r_is_scipys_with_unit_weights():
    rng = np.random.default_rng(12)
    truth = rng.normal(size=30)
    for predictions in (truth + rng.normal(size=30), np.round(truth, 0), -truth**3):
        metrics = numeric_metrics(predictions, truth)
        assert metrics["spearman_r"] == pytest.approx(spearmanr(predictions, truth).statistic, abs=1e-12)
    ties = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 5.0])
    predicted = np.array([2.0, 1.0, 1.0, 3.0, 3.0, 3.0])
    assert numeric_metrics(predicted, ties)["spearman_r"] == pytest.approx(spearmanr(predicted, ties).statistic)


def test_weighted_spearman_repeats_rows():
    rng = np.random.default_rng(13)
    truth = np.round(rng.normal(size=12), 1)
    predictions = np.round(truth + rng.normal(size=12), 1)
    counts = rng.integers(0, 4, 12)
    weighted = numeric_metrics(predictions, truth, counts.astype(float))["spearman_r"]
    expected = spearmanr(np.repeat(predictions, counts), np.repeat(truth, counts)).statistic
    assert weighted == pytest.approx(expected, abs=1e-12)


def test_numeric_degenerate_holdouts_are_finite():
    one = numeric_metrics([3.0], [1.0])
    assert one["r_squared"] == 0.0 and one["spearman_r"] == 0.0 and one["median_absolute_error"] == 2.0
    constant = numeric_metrics(np.full(5, 2.0), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert constant["spearman_r"] == 0.0
    constant_truth = numeric_metrics([1.0, 2.0, 3.0], np.full(3, 4.0))
    assert constant_truth["spearman_r"] == 0.0 and constant_truth["r_squared"] == 0.0
    for metrics in (one, constant, constant_truth):
        assert all(math.isfinite(value) for value in metrics.values()), metrics
    assert list(constant) == [
        "mean_absolute_error", "mean_squared_error", "median_absolute_error", "r_squared", "spearman_r",
    ]


# The backend's names and signs ------------------------------------------------------------


def test_for_backend_negates_the_errors_and_orders_the_keys():
    numeric = numeric_metrics([1.0, 2.0, 3.0, 3.0], [1.0, 2.0, 5.0, 4.0])
    shuffled = {key: numeric[key] for key in reversed(list(numeric))}
    backend = for_backend(shuffled)
    assert list(backend) == [
        "mean_absolute_error", "mean_squared_error", "median_absolute_error", "r_squared", "spearman_r",
    ]
    for key, value in backend.items():
        assert type(value) is float
        assert value == (-numeric[key] if key in NEGATED else numeric[key])
    assert backend["mean_absolute_error"] < 0 and backend["median_absolute_error"] < 0
    assert numeric["mean_absolute_error"] > 0  # pyramid's own stay positive
    assert math.copysign(1.0, for_backend({"mean_squared_error": 0.0})["mean_squared_error"]) == 1.0

    categorical = categorical_metrics(*random_holdout(20, 3, 14))
    backend = for_backend({key: np.float32(categorical[key]) for key in sorted(categorical, reverse=True)})
    assert list(backend) == ["accuracy", "auc", "likelihood", "max_phi", "ndcg"]
    assert all(type(value) is float and value >= 0 for value in backend.values())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_for_backend_refuses_non_finite_values(bad):
    with pytest.raises(ValueError, match="spearman_r"):
        for_backend({"r_squared": 0.5, "spearman_r": bad})
