"""Holdout metrics, computed in numpy from predictions in label units.

Every metric is "higher is better" except the error metrics, which the table prints as
they are. Candidates and checkpoints are compared on one primary metric per objective:
`likelihood` (exp of minus the mean log loss; smoother than accuracy on small holdouts) for
categorical objectives, `r_squared` for numeric ones.
"""

import math

import numpy as np
from sklearn.metrics import roc_auc_score

CATEGORICAL_COLUMNS = (("accuracy", "Accuracy"), ("auc", "AUC"), ("likelihood", "Likelihood"))
NUMERIC_COLUMNS = (
    ("mean_absolute_error", "MAE"),
    ("mean_squared_error", "MSE"),
    ("r_squared", "R-squared"),
)
PRIMARY = {True: "likelihood", False: "r_squared"}
PROBABILITY_FLOOR = 1e-7


def holdout_metrics(predictions, truth, weights, categorical):
    """Metrics of `predictions` (probabilities, or values) against `truth` (class ids or values)."""
    weights = np.asarray(weights, dtype=np.float64)
    if categorical:
        return categorical_metrics(np.asarray(predictions, np.float64), np.asarray(truth), weights)
    return numeric_metrics(np.asarray(predictions, np.float64), np.asarray(truth, np.float64), weights)


def categorical_metrics(probabilities, class_ids, weights):
    n_classes = probabilities.shape[1]
    correct = np.argmax(probabilities, axis=1) == class_ids
    true_probability = probabilities[np.arange(len(class_ids)), class_ids]
    log_loss = -np.log(np.clip(true_probability, PROBABILITY_FLOOR, 1.0))
    return {
        "accuracy": float(np.average(correct, weights=weights)),
        "auc": auc(probabilities, class_ids, weights, n_classes),
        "likelihood": float(math.exp(-np.average(log_loss, weights=weights))),
    }


def auc(probabilities, class_ids, weights, n_classes):
    """Macro one-vs-rest AUC over the classes present in the holdout (0.5 if undefined)."""
    present = np.unique(class_ids)
    if len(present) < 2:
        return 0.5
    if n_classes == 2:
        return float(roc_auc_score(class_ids, probabilities[:, 1], sample_weight=weights))
    scores = [
        roc_auc_score(class_ids == c, probabilities[:, c], sample_weight=weights) for c in present
    ]
    return float(np.mean(scores))


def numeric_metrics(predictions, values, weights):
    errors = predictions - values
    mse = float(np.average(errors**2, weights=weights))
    mean = np.average(values, weights=weights)
    variance = float(np.average((values - mean) ** 2, weights=weights))
    return {
        "mean_absolute_error": float(np.average(np.abs(errors), weights=weights)),
        "mean_squared_error": mse,
        "r_squared": 1.0 - mse / variance if variance > 0 else 0.0,
    }


def is_better(metrics, best, categorical, tolerance=1e-7):
    """True when `metrics` beat `best` (None beats nothing) on the primary metric."""
    key = PRIMARY[categorical]
    if best is None or not math.isfinite(best[key]):
        return True
    return math.isfinite(metrics[key]) and metrics[key] > best[key] + tolerance


def metric_columns(categorical):
    return CATEGORICAL_COLUMNS if categorical else NUMERIC_COLUMNS
