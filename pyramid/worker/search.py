"""A search's evaluations and its final choice (earlier-implementation.md 9.4, 9.6; worker-jobs.md
4): what each search_submodel leaves for finalize_output, and how finalize_output ranks them.

- `evaluations`: a submodel's `evaluation_metrics` (its metrics on every row of
  `evaluation_dataset.npy`) and the 128 metric dicts of its `evaluations.json`, one per
  stratified resample of those rows (`resamples`), all with the backend's names and signs
  (`pyramid.worker.metrics.for_backend`: errors negated, so higher is always better).
- `rank_models`: every submodel's worst-case rank score (`relative_value`), best first, and the
  kept networks (`model_fraction`).
- `combined_metrics`, `mean_importances`: the search's `validation_metrics` and `importances`,
  means over the kept submodels.

numpy and scipy only: importing this module never loads TensorFlow (the objectives passed in
have loaded it already).
"""

import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata

from pyramid.worker.metrics import for_backend

COUNT = 128  # resamples per submodel: the dicts of evaluations.json
SEED = 42
LARGEST_RATE = 0.2  # each resample takes min(20%, 256 rows / n) of every class
RESAMPLE_ROWS = 256
DEFAULT_MODEL_FRACTION = 0.1  # `model_fraction` missing, null or 0, as before

# Fast categorical path: resample x class x row elements ranked at a time (float64 arrays of
# 8 MB; max_phi holds about a dozen of them).
CHUNK_ELEMENTS = 1 << 20


# Resamples ----------------------------------------------------------------------------------


def resample_sizes(strata):
    """{stratum: rows a resample takes from it}: `max(1, round(n_c * min(0.2, 256 / n)))` for
    a stratum of n_c of the n rows (Python's round, half to even, as before)."""
    strata = np.asarray(strata)
    if strata.ndim != 1 or len(strata) == 0:
        raise ValueError("resamples need a non-empty list of strata, one per row")
    rate = min(LARGEST_RATE, RESAMPLE_ROWS / len(strata))
    values, counts = np.unique(strata, return_counts=True)
    return {value: max(1, round(int(count) * rate)) for value, count in zip(values.tolist(), counts)}


def resample_matrix(strata, count=COUNT, seed=SEED):
    """`resamples` as one int array [count, rows per resample] (every resample has the same
    size, and the same number of rows of each stratum), each row sorted."""
    strata = np.asarray(strata)
    sizes = resample_sizes(strata)
    rng = np.random.default_rng(seed)
    parts = []
    for value, size in sizes.items():  # strata in ascending order
        members = np.flatnonzero(strata == value)
        # One uniform key per resample and member; the members of the `size` smallest keys
        # are a uniform draw of `size` of them without replacement, for all resamples at
        # once. (Which keys are smallest does not depend on the selection algorithm.)
        keys = rng.random((count, len(members)))
        smallest = np.argpartition(keys, size - 1, axis=1) if size < len(members) else np.argsort(keys, axis=1)
        parts.append(members[smallest[:, :size]])
    return np.sort(np.concatenate(parts, axis=1), axis=1)


def resamples(strata, count=COUNT, seed=SEED):
    """The `count` stratified subsamples of the evaluation rows (earlier-implementation.md
    9.4): each takes `max(1, round(n_c * min(0.2, 256 / n)))` rows of each stratum (class) of
    n_c of the n rows, without replacement within the resample; the resamples are drawn
    independently of each other. Returns a list of sorted row-index arrays.

    `strata` holds a stratum id per row: the class ids for a categorical objective, a single
    stratum (e.g. zeros) for a numeric one, as the earlier implementation had (the argmax of
    its one objective column).

    RNG: one numpy Generator seeded once with `seed`, shared across all resamples, drawing a
    [count, n_c] block of uniform keys per stratum in ascending stratum order. The earlier
    implementation shared one `random.Random(42)` instead; its exact subsamples are not
    reproduced (nothing downstream depends on which rows they were), only their sizes and
    their distribution. The same strata and seed always give the same resamples.
    """
    return list(resample_matrix(strata, count, seed))


# Evaluations --------------------------------------------------------------------------------


def evaluations(objective, predictions, truth, weights, count=COUNT, seed=SEED, strata=None):
    """(evaluation_metrics, [count metric dicts]) of a search submodel: its metrics on all
    rows, and on each of `resamples(strata, count, seed)`, with the backend's names and signs.

    `objective` is a `pyramid.objectives` Categorical or Numeric, `predictions` its
    predictions for the evaluation rows (class probabilities [n, classes], or label values
    [n]), `truth` and `weights` theirs. `strata` defaults to the class ids for an objective
    with classes and to a single stratum otherwise (dataset_caching's evaluation rows).

    A NaN or infinite metric raises ValueError (`for_backend`): predictions that are not all
    finite fail here rather than write what the backend cannot read.

    Categorical resamples are scored in a vectorised pass over all resamples at once
    (`categorical_sample_metrics`) that gives the objective's own metrics (to rounding, see
    tests/test_worker_search.py): the objective's per-call sklearn AUC made 128 calls cost about
    5 s for 4096 rows of 10 classes. Other objectives call `objective.metrics` per resample.
    """
    predictions = np.asarray(predictions, np.float64)
    truth = np.asarray(truth)
    weights = np.asarray(weights, np.float64)
    if not (len(predictions) == len(truth) == len(weights)):
        raise ValueError("predictions, truth and weights need one entry per row, not %d, %d and %d"
                         % (len(predictions), len(truth), len(weights)))
    overall = for_backend(objective.metrics(predictions, truth, weights))
    if strata is None:
        strata = truth if objective.classes is not None else np.zeros(len(truth), int)
    samples = resample_matrix(strata, count, seed)
    if getattr(objective, "name", None) == "categorical" and predictions.ndim == 2:
        raw = categorical_sample_metrics(objective, predictions, truth, weights, samples)
    else:
        raw = [objective.metrics(predictions[rows], truth[rows], weights[rows]) for rows in samples]
    return overall, [for_backend(metrics) for metrics in raw]


def categorical_sample_metrics(objective, probabilities, truth, weights, samples):
    """`objective.metrics(probabilities[rows], truth[rows], weights[rows])` for every row
    array `rows` of `samples` [resamples, rows]: accuracy, likelihood, max_phi and ndcg as
    `pyramid.objectives.categorical` computes them (its own max_phi and ndcg run on a ranking
    of every resample and class at once), auc as sklearn's `roc_auc_score` (weighted
    trapezoids of the ROC curve, ties as one step). Resamples this pass cannot score exactly
    as the objective does (non-finite probabilities, a class of zero weight in a resample)
    are passed to `objective.metrics` itself."""
    from pyramid.objectives import categorical  # loaded with `objective` already

    if not np.all(np.isfinite(probabilities)):
        return [objective.metrics(probabilities[rows], truth[rows], weights[rows]) for rows in samples]
    present = np.unique(truth)
    n_samples, n_rows = samples.shape
    step = max(1, CHUNK_ELEMENTS // max(1, len(present) * n_rows))
    results = []
    for first in range(0, n_samples, step):
        chunk = samples[first : first + step]
        results.extend(categorical_chunk(categorical, probabilities, truth, weights, chunk, present))
    return [
        metrics if metrics is not None else objective.metrics(probabilities[rows], truth[rows], weights[rows])
        for metrics, rows in zip(results, samples)
    ]


class StackedRanking:
    """`categorical.OneVsRestRanking` of every (resample, class) pair at once: arrays
    [resamples x classes, rows], `order` as indices into the full evaluation rows (so that
    `categorical.max_phi` reads the weights of the right rows)."""

    def __init__(self, probabilities, truth, chunk, present):
        n_samples, n_rows = chunk.shape
        k = len(present)
        # [resamples, rows, classes] -> [resamples, classes, rows] -> [resamples x classes, rows]
        scores = probabilities[chunk][:, :, present].transpose(0, 2, 1).reshape(n_samples * k, n_rows)
        local = np.argsort(-scores, axis=1, kind="stable")
        ranked = np.take_along_axis(scores, local, axis=1)
        self.order = np.take_along_axis(np.repeat(chunk, k, axis=0), local, axis=1)
        self.relevant = truth[self.order] == np.tile(present, n_samples)[:, None]
        self.run_ends = np.ones(ranked.shape, bool)
        self.run_ends[:, :-1] = ranked[:, 1:] != ranked[:, :-1]


def categorical_chunk(categorical, probabilities, truth, weights, chunk, present):
    """Metric dicts for the resamples of `chunk`, None for those left to the objective."""
    n_samples, n_rows = chunk.shape
    k = len(present)
    p, t, w = probabilities[chunk], truth[chunk], weights[chunk]
    total = w.sum(axis=1)
    correct = np.argmax(p, axis=2) == t
    true_probability = np.take_along_axis(p, t[:, :, None], axis=2)[:, :, 0]
    log_loss = -np.log(np.clip(true_probability, categorical.PROBABILITY_FLOOR, 1.0))
    ok = total > 0
    safe = np.where(ok[:, None], w, 1.0)  # np.average refuses a zero total: those go back
    accuracy = np.average(correct, axis=1, weights=safe)
    likelihood = np.exp(-np.average(log_loss, axis=1, weights=safe))

    ranking = StackedRanking(probabilities, truth, chunk, present)
    phi = np.clip(categorical.max_phi(ranking, weights).reshape(n_samples, k).mean(axis=1), 0.0, 1.0)
    gain = np.clip(categorical.ndcg(ranking).reshape(n_samples, k).mean(axis=1), 0.0, 1.0)
    areas, defined = roc_areas(ranking, weights)
    areas, defined = areas.reshape(n_samples, k), defined.reshape(n_samples, k)
    if k < 2:
        auc = np.full(n_samples, 0.5)
    elif probabilities.shape[1] == 2:  # sklearn's binary AUC: class 1's column only
        auc, ok = areas[:, 1], ok & defined[:, 1]
    else:
        auc, ok = areas.mean(axis=1), ok & defined.all(axis=1)
    return [
        {
            "accuracy": float(accuracy[s]),
            "auc": float(auc[s]),
            "likelihood": float(likelihood[s]),
            "max_phi": float(phi[s]),
            "ndcg": float(gain[s]),
        }
        if ok[s]
        else None
        for s in range(n_samples)
    ]


def roc_areas(ranking, weights):
    """(area under the ROC curve per ranking row, whether it is defined): sklearn's weighted
    `roc_auc_score` of "is this class" against the class's probability, the rows of a run of
    equal scores making one (diagonal) step. Undefined when the class or the rest weigh 0."""
    w = weights[ranking.order]
    tp = np.cumsum(np.where(ranking.relevant, w, 0.0), axis=1)
    fp = np.cumsum(np.where(ranking.relevant, 0.0, w), axis=1)
    n = tp.shape[1]
    # For each row, the last row of the run before its own (-1 for the first run).
    previous = np.full(tp.shape, -1)
    previous[:, 1:] = np.maximum.accumulate(np.where(ranking.run_ends, np.arange(n), -1), axis=1)[:, :-1]
    padded_tp = np.concatenate([np.zeros((len(tp), 1)), tp], axis=1)
    padded_fp = np.concatenate([np.zeros((len(fp), 1)), fp], axis=1)
    tp_before = np.take_along_axis(padded_tp, previous + 1, axis=1)
    fp_before = np.take_along_axis(padded_fp, previous + 1, axis=1)
    # A trapezoid per run, taken at its last row.
    trapezoids = np.where(ranking.run_ends, (fp - fp_before) * (tp + tp_before) / 2, 0.0)
    positives, negatives = tp[:, -1], fp[:, -1]
    defined = (positives > 0) & (negatives > 0)
    scale = np.where(defined, positives * negatives, 1.0)
    return trapezoids.sum(axis=1) / scale, defined


# Ranking ------------------------------------------------------------------------------------


def rank_models(evaluations_by_model, model_fraction):
    """(ranking, kept): `ranking` every model's (id, relative_value), best first; `kept` the ids
    of the first `max(1, int(model_fraction * n))` of the n models (`model_fraction` null or
    0: 0.1, as before; never more than n).

    `evaluations_by_model` maps a model id to its evaluations.json (a list of metric dicts,
    backend signs: higher is better). relative_value (earlier-implementation.md 9.6): for each
    metric, every model x sample value ranked jointly (scipy `rankdata`, ties sharing their
    mean rank, higher values higher ranks) and divided by the largest rank; averaged over the
    metrics; the model's minimum over its samples (its worst case). In [0, 1]; 1 for a model
    that is best (or tied best) on every metric in every sample.

    Non-finite values (NaN, infinities, null, a metric missing from a dict) rank below every
    finite value, tied among themselves: a diverged model is never preferred, even by a
    +infinity. Equal relative values are ordered by str(model id), so the result never
    depends on the order the models are given in.
    """
    if isinstance(evaluations_by_model, Mapping):
        evaluations_by_model = list(evaluations_by_model.items())
    else:
        evaluations_by_model = list(evaluations_by_model)
    if not evaluations_by_model:
        raise ValueError("a search needs at least one evaluated model to rank")
    ids = [model for model, _ in evaluations_by_model]
    if len(set(map(str, ids))) != len(ids):
        raise ValueError("model ids must be distinct: %r" % (ids,))
    names = sorted({name for _, samples in evaluations_by_model for sample in samples for name in sample})
    for model, samples in evaluations_by_model:
        if not samples:
            raise ValueError("model %s has no evaluations to rank" % (model,))
    if not names:
        raise ValueError("the models' evaluations have no metrics to rank")

    rows = [[[finite_or_nan(sample.get(name)) for name in names] for sample in samples]
            for _, samples in evaluations_by_model]
    values = np.array([row for model_rows in rows for row in model_rows], np.float64)
    values[~np.isfinite(values)] = -np.inf  # below every finite value, tied among themselves
    ranks = np.column_stack([rankdata(column) for column in values.T])
    scores = (ranks / ranks.max(axis=0)).mean(axis=1)
    bounds = np.cumsum([0] + [len(model_rows) for model_rows in rows])
    relative = [float(scores[start:end].min()) for start, end in zip(bounds[:-1], bounds[1:])]

    ranking = sorted(zip(ids, relative), key=lambda pair: (-pair[1], str(pair[0])))
    fraction = model_fraction or DEFAULT_MODEL_FRACTION
    keep = min(len(ranking), max(1, int(fraction * len(ranking))))
    return ranking, [model for model, _ in ranking[:keep]]


def finite_or_nan(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


# Combining the kept models ------------------------------------------------------------------


def combined_metrics(kept_evaluation_metrics):
    """The search's `validation_metrics`: the mean over the kept models' `evaluation_metrics`
    (dicts with the same keys), keys sorted, values plain floats."""
    kept = list(kept_evaluation_metrics)
    if not kept:
        raise ValueError("no kept model to combine the metrics of")
    names = sorted(kept[0])
    for metrics in kept[1:]:
        if sorted(metrics) != names:
            raise ValueError("the kept models' evaluation metrics differ: %s and %s"
                             % (", ".join(names), ", ".join(sorted(metrics))))
    return {name: float(np.mean([float(metrics[name]) for metrics in kept])) for name in names}


def mean_importances(kept_importances):
    """The search's `importances`: the element-wise mean of the kept models' importance lists
    (one value per original input field, the same length for every model)."""
    kept = [list(importances) for importances in kept_importances]
    if not kept:
        raise ValueError("no kept model to combine the importances of")
    lengths = {len(importances) for importances in kept}
    if len(lengths) != 1:
        raise ValueError("the kept models' importances differ in length: %s" % sorted(lengths))
    return [float(value) for value in np.mean(np.array(kept, np.float64), axis=0)]
