"""Time budgets, holdout selection, optimizers and the learning-rate schedule."""

import numpy as np
import pytest

from pyramid.config import DESCENT_ALGORITHMS
from pyramid.data.holdout import missed_strata, split_holdout
from pyramid.importers import keras
from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric
from pyramid.train.optimizers import PhasedWarmupSchedule, make_optimizer
from pyramid.train.run import candidate_budget


def test_candidate_budget_splits_evenly_and_passes_unused_time_on():
    total = 120.0
    first = candidate_budget(total, 3)
    assert first == 40.0
    # The first candidate stopped after 10 s: the other two share the remaining 110 s.
    assert candidate_budget(total - 10, 2) == 55.0
    # Overrunning candidates never leave a negative budget.
    assert candidate_budget(-5.0, 2) == 0.0
    assert candidate_budget(0.0, 1) == 0.0


def test_holdout_is_stratified_and_capped():
    labels = ["a"] * 500 + ["b"] * 100 + ["c"] * 3 + ["d"]
    training, holdout = split_holdout(Categorical(labels, sorted(set(labels))).strata(), 4096, seed=1)
    assert len(holdout) == round(0.2 * len(labels))
    assert set(np.concatenate([training, holdout])) == set(range(len(labels)))
    assert not set(training) & set(holdout)
    holdout_labels = [labels[i] for i in holdout]
    assert {"a", "b", "c"} <= set(holdout_labels)
    assert "d" not in holdout_labels  # a class with one row is kept for training
    assert holdout_labels.count("a") == pytest.approx(0.2 * 500, abs=2)

    _, capped = split_holdout(Categorical(labels, sorted(set(labels))).strata(), 50, seed=1)
    assert len(capped) == 50

    again = split_holdout(Categorical(labels, sorted(set(labels))).strata(), 4096, seed=1)
    assert np.array_equal(again[1], holdout)
    assert not np.array_equal(split_holdout(Categorical(labels, sorted(set(labels))).strata(), 4096, seed=2)[1], holdout)


def test_holdout_never_exceeds_its_cap_with_more_classes_than_slots():
    # 200 classes of 2 rows (earlier: one holdout row per class, 200 rows, half the data).
    labels = ["c%03d" % (i // 2) for i in range(400)]
    training, holdout = split_holdout(Categorical(labels, sorted(set(labels))).strata(), 50, seed=3)
    assert len(holdout) == 50 and len(training) == 350
    assert len({labels[i] for i in holdout}) == 50  # one row from each of 50 classes
    assert missed_strata(Categorical(labels, sorted(set(labels))).strata(), holdout) == 150
    assert np.array_equal(split_holdout(Categorical(labels, sorted(set(labels))).strata(), 50, seed=3)[1], holdout)
    assert not np.array_equal(split_holdout(Categorical(labels, sorted(set(labels))).strata(), 50, seed=4)[1], holdout)
    # The 20% rule caps it too.
    assert len(split_holdout(Categorical(labels, sorted(set(labels))).strata(), 4096, seed=3)[1]) == 80


def test_largest_classes_get_the_scarce_holdout_rows():
    labels = ["big"] * 30 + ["mid"] * 10 + ["c%02d" % (i // 2) for i in range(40)]
    _, holdout = split_holdout(Categorical(labels, sorted(set(labels))).strata(), 3, seed=0)
    picked = [labels[i] for i in holdout]
    assert len(picked) == 3 and picked.count("big") == 1 and picked.count("mid") == 1
    assert missed_strata(Categorical(labels, sorted(set(labels))).strata(), holdout) == 19


def test_numeric_holdout_is_capped_below_the_number_of_bins():
    values = list(np.linspace(0, 100, 400))
    training, holdout = split_holdout(Numeric(values).strata(), 5, seed=0)
    assert len(holdout) == 5 and len(training) == 395
    assert missed_strata(Numeric(values).strata(), holdout) == 5


def test_numeric_holdout_covers_the_label_range():
    values = list(np.linspace(0, 100, 400))
    _, holdout = split_holdout(Numeric(values).strata(), 4096, seed=0)
    picked = np.array(values)[holdout]
    assert len(holdout) == 80
    assert picked.min() < 10 and picked.max() > 90


def test_small_data_uses_all_rows_for_both():
    training, holdout = split_holdout([0, 1] * 10, 4096, seed=0)
    assert list(training) == list(holdout) == list(range(20))


@pytest.mark.parametrize("name", DESCENT_ALGORITHMS)
def test_every_descent_algorithm_trains(name):
    from pyramid.config import TrainConfig

    defaults = {field: info.default for field, info in TrainConfig.model_fields.items() if not info.is_required()}
    config = type("Config", (), dict(defaults, descent_algorithm=name))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=make_optimizer(config, 0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32)
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first


def test_warmup_is_quadratic_and_counted_over_the_whole_run():
    schedule = PhasedWarmupSchedule(0.01, warmup_iterations=10)
    rates = [float(schedule(step)) for step in range(12)]
    assert rates[0] == pytest.approx(0.01 * (1 / 10) ** 2)
    assert rates[4] == pytest.approx(0.01 * (5 / 10) ** 2)
    assert rates[9] == rates[11] == pytest.approx(0.01)
    # A later phase lowers the rate; the warmup does not start again.
    schedule.phase_factor.assign(0.25)
    assert float(schedule(11)) == pytest.approx(0.0025)
    assert float(PhasedWarmupSchedule(0.01, 0)(0)) == pytest.approx(0.01)


def test_metrics():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    categorical = Categorical(["a", "b", "b", "b"], ["a", "b"])
    metrics = categorical.metrics(probabilities, categorical.truth(np.arange(4)), np.ones(4))
    assert metrics["accuracy"] == 0.75
    assert metrics["likelihood"] == pytest.approx(np.exp(np.mean(np.log([0.9, 0.8, 0.4, 0.7]))))
    assert metrics["auc"] == pytest.approx(1.0)

    regression = Numeric([1.0, 2.0, 5.0])
    numeric = regression.metrics(np.array([1.0, 2.0, 3.0]), regression.truth(np.arange(3)), np.ones(3))
    assert numeric["mean_absolute_error"] == pytest.approx(2 / 3)
    assert numeric["mean_squared_error"] == pytest.approx(4 / 3)
    assert numeric["r_squared"] == pytest.approx(1 - (4 / 3) / np.var([1, 2, 5]))

    assert categorical.is_better({"likelihood": 0.5}, None)
    assert categorical.is_better({"likelihood": 0.5}, {"likelihood": float("nan")})
    assert not categorical.is_better({"likelihood": float("nan")}, {"likelihood": 0.1})
    assert not regression.is_better({"r_squared": 0.4}, {"r_squared": 0.4})
    assert regression.is_better({"r_squared": 0.5}, {"r_squared": 0.4})


def test_warmup_continues_across_a_new_optimizer():
    """A phase that changes the trainable layers gets a new optimizer, whose own step count
    starts at 0; the offset keeps the warmup where the candidate is."""
    schedule = PhasedWarmupSchedule(0.01, warmup_iterations=10)
    schedule.step_offset.assign(6)
    assert float(schedule(0)) == pytest.approx(float(PhasedWarmupSchedule(0.01, 10)(6)))
    assert float(schedule(4)) == pytest.approx(0.01)
