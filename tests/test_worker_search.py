"""A search's evaluations (the 128 stratified resamples of evaluations.json) and its final
choice (worst-case rank scores, model_fraction, the kept models' means): pyramid.worker.search."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge

from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric
from pyramid.worker import search
from pyramid.worker.metrics import for_backend

CATEGORICAL_KEYS = ["accuracy", "auc", "likelihood", "max_phi", "ndcg"]
NUMERIC_KEYS = ["mean_absolute_error", "mean_squared_error", "median_absolute_error", "r_squared", "spearman_r"]


@pytest.fixture(scope="module")
def digits():
    """Digit class ids, and a LogisticRegression's probabilities for them (trained on the
    first 600, so the rest are real held-out predictions)."""
    data = load_digits()
    model = LogisticRegression(max_iter=300).fit(data.data[:600] / 16, data.target[:600])
    return data.target, model.predict_proba(data.data / 16)


def expected_sizes(strata):
    n = len(strata)
    rate = min(0.2, 256 / n)
    return {c: max(1, round(int(np.sum(strata == c)) * rate)) for c in np.unique(strata)}


# Resamples ----------------------------------------------------------------------------------


def test_resample_sizes_per_class_on_digits(digits):
    target, _ = digits
    samples = search.resamples(target)
    assert len(samples) == 128
    sizes = expected_sizes(target)  # 1797 rows: 14.2% of each class, e.g. 178 -> 25
    assert sizes[0] == round(178 * 256 / 1797) == 25
    for rows in samples:
        assert rows.dtype.kind == "i"
        assert np.all(np.diff(rows) > 0)  # sorted, no row twice
        assert rows.min() >= 0 and rows.max() < len(target)
        classes, counts = np.unique(target[rows], return_counts=True)
        assert dict(zip(classes.tolist(), counts.tolist())) == sizes
    # The resamples differ from each other.
    assert len({tuple(rows) for rows in samples}) == 128


def test_resample_sizes_rule():
    # 2048 rows: 256 / 2048 = 12.5%. 4 rows -> 0.5 -> 1 (at least one), 12 -> 1.5 -> 2,
    # 20 -> 2.5 -> 2 (Python's round, half to even), 2012 -> 251.5 -> 252.
    strata = np.repeat([3, 1, 2, 0], [4, 12, 20, 2012])
    assert search.resample_sizes(strata) == {0: 252, 1: 2, 2: 2, 3: 1}
    # Below 1280 rows, 20% of each class: a class of one row is in every resample.
    strata = np.array([0] * 99 + [1])
    assert search.resample_sizes(strata) == {0: 20, 1: 1}
    for rows in search.resamples(strata, count=16):
        assert 99 in rows and len(rows) == 21
    # String strata, one stratum (numeric objectives).
    assert search.resample_sizes(["b", "a", "b"]) == {"a": 1, "b": 1}
    assert [len(rows) for rows in search.resamples(np.zeros(4096, int), count=3)] == [256] * 3
    with pytest.raises(ValueError):
        search.resamples([])


def test_resamples_are_deterministic(digits):
    target, _ = digits
    first = search.resamples(target)
    again = search.resamples(target)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other = search.resamples(target, seed=7)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    fewer = search.resamples(target, count=5)
    assert len(fewer) == 5


def test_resamples_cover_a_class_uniformly():
    # A class of 10 rows, 2 taken per resample: each row is drawn 2/10 of the time.
    strata = np.array([0] * 10 + [1] * 40)
    counts = np.zeros(50)
    for rows in search.resamples(strata, count=2000):
        counts[rows] += 1
    assert np.all(np.abs(counts[:10] / 2000 - 0.2) < 0.04)
    assert np.all(np.abs(counts[10:] / 2000 - 0.2) < 0.04)


# Evaluations --------------------------------------------------------------------------------


def categorical_objective(target, n_classes=10):
    return Categorical(list(target), list(range(n_classes)))


def objective_per_sample(objective, predictions, truth, weights, samples):
    """The reference: the objective's own metrics, one call per resample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's UndefinedMetricWarning
        return [objective.metrics(predictions[rows], truth[rows], weights[rows]) for rows in samples]


def assert_same_metrics(fast, slow):
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert list(a) == list(b)
        for key in a:
            if math.isnan(b[key]):
                assert math.isnan(a[key]), key
            else:
                assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-12), key


def test_categorical_evaluations_on_real_predictions(digits):
    target, probabilities = digits
    objective = categorical_objective(target)
    weights = np.ones(len(target))
    overall, samples = search.evaluations(objective, probabilities, target, weights)
    assert overall == for_backend(objective.metrics(probabilities, target, weights))
    assert list(overall) == CATEGORICAL_KEYS
    assert len(samples) == 128
    for metrics in samples:
        assert list(metrics) == CATEGORICAL_KEYS
        assert all(type(value) is float and 0.0 <= value <= 1.0 for value in metrics.values())
    # Held-out digits are mostly right; resamples scatter around the whole set's values.
    assert 0.85 < overall["accuracy"] < 1.0
    accuracies = [metrics["accuracy"] for metrics in samples]
    assert min(accuracies) < overall["accuracy"] < max(accuracies)
    assert np.mean(accuracies) == pytest.approx(overall["accuracy"], abs=0.01)
    # Each dict is the objective's metrics on its resample.
    reference = objective_per_sample(objective, probabilities, target, weights, search.resamples(target))
    assert_same_metrics(samples, [for_backend(metrics) for metrics in reference])


@pytest.mark.parametrize("case", ["weighted", "ties", "binary", "one_row_class", "one_class", "absent_class"])
def test_vectorised_categorical_metrics_equal_the_objectives(digits, case):
    """The vectorised pass over all resamples gives what `Categorical.metrics` gives on each."""
    target, probabilities = digits
    rng = np.random.default_rng(3)
    weights = np.ones(len(target))
    truth, predictions, n_classes = target, probabilities, 10
    if case == "weighted":
        weights = rng.uniform(0.05, 1.0, len(target))
    elif case == "ties":  # many tied scores: runs in the ROC, phi and ndcg rankings
        predictions = np.round(probabilities, 1)
        weights = rng.uniform(0.05, 1.0, len(target))
    elif case == "binary":  # sklearn's binary AUC (class 1's column)
        rows = np.flatnonzero(target < 2)
        model = LogisticRegression(C=0.01, max_iter=300).fit(load_digits().data[rows][:100], target[rows][:100])
        truth, predictions, n_classes = target[rows], model.predict_proba(load_digits().data[rows]), 2
        weights = rng.uniform(0.05, 1.0, len(rows))
    elif case == "one_row_class":  # a class with a single row: in every resample
        keep = np.concatenate([np.flatnonzero(target != 9), np.flatnonzero(target == 9)[:1]])
        truth, predictions = target[keep], probabilities[keep]
    elif case == "one_class":  # auc 0.5, max_phi 0, ndcg 1
        rows = np.flatnonzero(target == 4)
        truth, predictions = target[rows], probabilities[rows]
    elif case == "absent_class":  # a class of the objective without rows
        rows = np.flatnonzero(target != 5)
        truth, predictions = target[rows], probabilities[rows]
    objective = categorical_objective(truth, n_classes)
    samples = search.resample_matrix(truth, count=32)  # the reference takes 40 ms a resample
    fast = search.categorical_sample_metrics(objective, predictions, truth, weights, samples)
    assert_same_metrics(fast, objective_per_sample(objective, predictions, truth, weights, samples))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_resamples_the_vectorised_pass_cannot_score_go_to_the_objective(digits):
    # Class 3 weighs 0 but for one row: resamples that miss that row have no weight of class
    # 3, where sklearn's AUC is NaN. Non-finite probabilities: every metric NaN.
    target, probabilities = digits
    objective = categorical_objective(target)
    weights = np.ones(len(target))
    threes = np.flatnonzero(target == 3)
    weights[threes[1:]] = 0.0
    samples = search.resample_matrix(target, count=32)
    fast = search.categorical_sample_metrics(objective, probabilities, target, weights, samples)
    slow = objective_per_sample(objective, probabilities, target, weights, samples)
    assert any(math.isnan(metrics["auc"]) for metrics in slow)
    assert not all(math.isnan(metrics["auc"]) for metrics in slow)
    assert_same_metrics(fast, slow)

    broken = probabilities.copy()
    broken[0, 0] = np.nan
    weights = np.ones(len(target))
    fast = search.categorical_sample_metrics(objective, broken, target, weights, samples[:4])
    assert_same_metrics(fast, objective_per_sample(objective, broken, target, weights, samples[:4]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        search.evaluations(objective, broken, target, weights)


def test_numeric_evaluations_on_real_predictions():
    features, labels = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.1).fit(features[:300], labels[:300])
    predictions = model.predict(features)
    objective = Numeric(labels)
    weights = np.ones(len(labels))
    overall, samples = search.evaluations(objective, predictions, labels, weights)
    assert overall == for_backend(objective.metrics(predictions, labels, weights))
    assert list(overall) == NUMERIC_KEYS
    assert overall["mean_squared_error"] < 0 and overall["mean_absolute_error"] < 0
    assert overall["median_absolute_error"] < 0
    assert 0.3 < overall["r_squared"] < 1 and 0.5 < overall["spearman_r"] < 1
    assert len(samples) == 128
    rows = search.resamples(np.zeros(len(labels), int))  # one stratum: 20% of 442 rows
    assert all(len(r) == 88 for r in rows)
    for metrics, r in zip(samples, rows):
        assert list(metrics) == NUMERIC_KEYS
        assert metrics == for_backend(objective.metrics(predictions[r], labels[r], weights[r]))
        assert metrics["mean_squared_error"] <= 0.0 and metrics["mean_absolute_error"] <= 0.0


def test_evaluations_check_their_inputs(digits):
    target, probabilities = digits
    with pytest.raises(ValueError, match="one entry per row"):
        search.evaluations(categorical_objective(target), probabilities, target[:-1], np.ones(len(target)))


# Ranking ------------------------------------------------------------------------------------


def hand_example():
    """3 models x 2 samples x 2 metrics.

    m1: A .9 .7, B .8 .6, C .5 .9 -> ascending ranks C1 .5=1, B2 .6=2, A2 .7=3, B1 .8=4,
        A1 = C2 = .9 tie = 5.5; divided by 5.5: A 1, 6/11; B 8/11, 4/11; C 2/11, 1.
    m2: A .5 .6, B .8 .7, C .4 .3 -> C2=1, C1=2, A1=3, A2=4, B2=5, B1=6; divided by 6:
        A 1/2, 2/3; B 1, 5/6; C 1/3, 1/6.
    Means: A .75, 20/33; B 19/22, 79/132; C 17/66, 7/12.
    Minima: A 20/33 = 0.6061 > B 79/132 = 0.5985 > C 17/66 = 0.2576.
    """
    return {
        "A": [{"m1": 0.9, "m2": 0.5}, {"m1": 0.7, "m2": 0.6}],
        "B": [{"m1": 0.8, "m2": 0.8}, {"m1": 0.6, "m2": 0.7}],
        "C": [{"m1": 0.5, "m2": 0.4}, {"m1": 0.9, "m2": 0.3}],
    }


def test_rank_models_by_hand():
    ranking, kept = search.rank_models(hand_example(), 0.5)
    assert [model for model, _ in ranking] == ["A", "B", "C"]
    values = dict(ranking)
    assert values["A"] == pytest.approx(20 / 33, abs=1e-15)
    assert values["B"] == pytest.approx(79 / 132, abs=1e-15)
    assert values["C"] == pytest.approx(17 / 66, abs=1e-15)
    assert all(type(value) is float for value in values.values())
    assert kept == ["A"]  # int(0.5 * 3) = 1
    # The given order does not matter; pairs are accepted as well as a mapping.
    reordered = list(reversed(list(hand_example().items())))
    assert search.rank_models(reordered, 0.5) == (ranking, kept)


def test_model_fraction_keeps_at_least_one():
    models = hand_example()
    assert search.rank_models(models, 0.7)[1] == ["A", "B"]  # int(2.1) = 2
    assert search.rank_models(models, 1.0)[1] == ["A", "B", "C"]
    assert search.rank_models(models, 5.0)[1] == ["A", "B", "C"]  # never more than n
    assert search.rank_models(models, 0.1)[1] == ["A"]  # int(0.3) = 0 -> 1
    assert search.rank_models(models, None)[1] == ["A"]  # default 0.1
    assert search.rank_models(models, 0)[1] == ["A"]
    assert search.rank_models({"only": [{"m": 0.5}]}, 0.1) == ([("only", 1.0)], ["only"])
    rng = np.random.default_rng(0)
    many = {"model_%02d" % i: [{"m": float(v)} for v in rng.random(4)] for i in range(30)}
    ranking, kept = search.rank_models(many, 0.1)
    assert len(ranking) == 30 and kept == [model for model, _ in ranking[:3]]
    assert [value for _, value in ranking] == sorted((value for _, value in ranking), reverse=True)


def test_a_model_better_on_every_sample_ranks_first(digits):
    # Real evaluations: LogisticRegression probabilities blurred by increasing noise.
    target, probabilities = digits
    objective = categorical_objective(target)
    rng = np.random.default_rng(1)
    models = {}
    for index, noise in enumerate([0.5, 1.0, 2.0]):
        noisy = probabilities * np.exp(noise * rng.standard_normal(probabilities.shape))
        noisy /= noisy.sum(axis=1, keepdims=True)
        models["noisy_%d" % index] = search.evaluations(objective, noisy, target, np.ones(len(target)))[1]
    # "best" beats every other value of every metric in every sample.
    best = [
        {key: max(models[m][s][key] for m in models) + 0.001 for key in CATEGORICAL_KEYS} for s in range(128)
    ]
    models["best"] = best
    ranking, kept = search.rank_models(models, 0.25)
    # Its worst sample beats that same sample of every other model, hence their worst ones.
    assert ranking[0][0] == "best" and kept == ["best"]
    assert ranking[0][1] > ranking[1][1]
    # Beating every value of every sample scores 1.
    models["top"] = [{key: 2.0 for key in CATEGORICAL_KEYS}] * 128
    ranking, kept = search.rank_models(models, 0.25)
    assert ranking[0] == ("top", 1.0) and ranking[1][0] == "best"
    assert all(value < 1.0 for _, value in ranking[1:])


def test_non_finite_values_rank_lowest():
    models = {
        # Best everywhere but for one NaN: that sample is its worst case.
        "nan": [{"m1": 0.99, "m2": 0.99}, {"m1": float("nan"), "m2": 0.99}],
        # +infinity counts as low as NaN.
        "inf": [{"m1": float("inf"), "m2": 0.6}, {"m1": 0.6, "m2": 0.6}],
        "ok": [{"m1": 0.5, "m2": 0.5}, {"m1": 0.5, "m2": 0.5}],
    }
    ranking, _ = search.rank_models(models, 1.0)
    values = dict(ranking)
    # m1 ascending: nan2 = inf1 = -inf tie (1.5), ok 0.5 x2 (3.5), inf2 0.6 (5), nan1 0.99 (6).
    # m2: ok x2 (1.5), inf x2 (3.5), nan x2 (5.5).
    assert values["nan"] == pytest.approx(min((1 + 1) / 2, (1.5 / 6 + 1) / 2))  # 0.625
    assert values["inf"] == pytest.approx(min((1.5 / 6 + 3.5 / 5.5) / 2, (5 / 6 + 3.5 / 5.5) / 2))  # 0.443
    assert values["ok"] == pytest.approx((3.5 / 6 + 1.5 / 5.5) / 2)  # 0.428
    assert [model for model, _ in ranking] == ["nan", "inf", "ok"]
    # Alone, +infinity loses to any finite value.
    ranking, kept = search.rank_models({"a_inf": [{"m": float("inf")}], "finite": [{"m": -1e300}]}, 0.1)
    assert ranking == [("finite", 1.0), ("a_inf", 0.5)] and kept == ["finite"]
    # null, a missing metric and -infinity are non-finite too; all non-finite ranks last.
    models = {
        "broken": [{"m1": None, "m2": float("-inf")}, {"m2": float("nan")}],
        "fine": [{"m1": 0.1, "m2": 0.1}, {"m1": 0.1, "m2": 0.1}],
    }
    ranking, kept = search.rank_models(models, 0.5)
    assert kept == ["fine"] and ranking[0] == ("fine", 1.0)
    # Each metric: broken's two values tie at rank 1.5, fine's at 3.5 (the maximum).
    assert ranking[1] == ("broken", pytest.approx(1.5 / 3.5))
    assert all(math.isfinite(value) for _, value in ranking)


def test_ties_are_ordered_by_model_id():
    same = [{"m": 0.5}, {"m": 0.7}]
    ranking, kept = search.rank_models({"b": same, "c": same, "a": same}, 0.34)
    assert [model for model, _ in ranking] == ["a", "b", "c"] and kept == ["a"]


def test_rank_models_checks_its_input():
    with pytest.raises(ValueError):
        search.rank_models({}, 0.1)
    with pytest.raises(ValueError):
        search.rank_models({"a": []}, 0.1)
    with pytest.raises(ValueError):
        search.rank_models({"a": [{}]}, 0.1)
    with pytest.raises(ValueError):
        search.rank_models([("a", [{"m": 1}]), ("a", [{"m": 2}])], 0.1)


# Combining the kept models ------------------------------------------------------------------


def test_combined_metrics_and_mean_importances():
    kept = [
        {"r_squared": 0.5, "mean_squared_error": -2.0},
        {"r_squared": 0.7, "mean_squared_error": -4.0},
    ]
    combined = search.combined_metrics(kept)
    assert list(combined) == ["mean_squared_error", "r_squared"]
    assert combined == {"mean_squared_error": -3.0, "r_squared": pytest.approx(0.6)}
    assert search.combined_metrics(kept[:1]) == kept[0]
    with pytest.raises(ValueError):
        search.combined_metrics([])
    with pytest.raises(ValueError):
        search.combined_metrics([{"a": 1.0}, {"b": 1.0}])

    importances = search.mean_importances([[0.5, 0.25, 0.25], [0.1, 0.3, 0.6]])
    assert importances == pytest.approx([0.3, 0.275, 0.425])
    assert all(type(value) is float for value in importances)
    assert search.mean_importances([[1.0]]) == [1.0]
    with pytest.raises(ValueError):
        search.mean_importances([])
    with pytest.raises(ValueError):
        search.mean_importances([[0.5, 0.5], [1.0]])


def test_the_whole_search_choice(digits):
    """Real evaluations of three submodels of different quality -> the best kept, the search's
    validation_metrics its evaluation_metrics."""
    target, probabilities = digits
    objective = categorical_objective(target)
    weights = np.ones(len(target))
    uniform = np.full(probabilities.shape, 0.1)
    blurred = 0.5 * probabilities + 0.05
    results = {name: search.evaluations(objective, p, target, weights)
               for name, p in [("sharp", probabilities), ("blurred", blurred), ("uniform", uniform)]}
    ranking, kept = search.rank_models({name: result[1] for name, result in results.items()}, 0.1)
    assert [model for model, _ in ranking][0] == "sharp" and ranking[-1][0] == "uniform"
    assert kept == ["sharp"]
    assert search.combined_metrics([results[m][0] for m in kept]) == results["sharp"][0]


def test_the_vectorised_pass_in_chunks_gives_the_same(digits, monkeypatch):
    target, probabilities = digits
    objective = categorical_objective(target)
    weights = np.random.default_rng(5).uniform(0.1, 1.0, len(target))
    samples = search.resample_matrix(target, count=12)
    whole = search.categorical_sample_metrics(objective, probabilities, target, weights, samples)
    monkeypatch.setattr(search, "CHUNK_ELEMENTS", 5000)  # 2 resamples of 10 x 255 at a time
    assert search.categorical_sample_metrics(objective, probabilities, target, weights, samples) == whole
