"""Regression: one output in standardised units, `label = output * stdev + mean`
(sensenet's numeric output_exposition)."""

import numpy as np

from pyramid.importers import keras
from pyramid.objectives.base import Objective
from pyramid.train.loss_settings import LOSSES

# Labels are stratified by their deciles, so the holdout covers their range.
STRATA = 10


class Numeric(Objective):
    name = "numeric"
    primary = "r_squared"
    columns = (("mean_absolute_error", "MAE"), ("mean_squared_error", "MSE"), ("r_squared", "R-squared"))
    output_activation = "linear"
    metric_names = ("mean_absolute_error", "mean_squared_error", "median_absolute_error", "r_squared", "spearman_r")

    def __init__(self, labels, scale=None):
        """`scale` (mean, stdev) when given (the worker's info_list), else the labels' own."""
        self.values = np.asarray(labels, dtype=np.float64)
        mean, stdev = scale if scale is not None else (self.values.mean(), self.values.std())
        self.mean = float(mean)
        # A constant label has nothing to scale; sensenet treats stdev 0 as 1 too.
        self.stdev = float(stdev) if stdev > 0 else 1.0

    @classmethod
    def from_config(cls, config):
        return cls(config.labels, config.label_scale)

    def strata(self):
        edges = np.quantile(self.values, np.linspace(0, 1, STRATA + 1)[1:-1])
        return np.searchsorted(edges, self.values, side="right")

    def targets(self):
        return ((self.values - self.mean) / self.stdev).astype(np.float32)[:, None]

    def stored_label(self, row):
        return float((self.values[row] - self.mean) / self.stdev)

    def describe_target(self, target):
        return "%.4g" % (float(target[0]) * self.stdev + self.mean)

    @property
    def n_outputs(self):
        return 1

    @property
    def output_exposition(self):
        return {"type": self.name, "mean": self.mean, "stdev": self.stdev}

    def loss(self, name):
        """Losses see standardised values, except the percentage error (in label units:
        standardised values sit around 0, where a percentage means nothing)."""
        if LOSSES[name].keras_class is None:
            return percentage_error(self.mean, self.stdev)
        return getattr(keras.losses, LOSSES[name].keras_class)()

    def predictions(self, outputs, rows=None, document=None):
        return outputs[:, 0] * self.stdev + self.mean

    def truth(self, rows):
        return self.values[rows]

    def metrics(self, predictions, truth, weights):
        """mean_absolute_error, mean_squared_error, median_absolute_error (errors, positive:
        the worker negates them for BigML, `pyramid.worker.metrics`), r_squared, spearman_r.

        A row of weight w counts as w copies of the row in every metric: the median is the
        weighted median (numpy's median with unit weights, the mean of the two middle values
        of an even count), spearman_r the weighted Pearson correlation of weighted mid-ranks
        (scipy's spearmanr with unit weights: ties take their mean rank). r_squared and
        spearman_r are 0 when undefined: n <= 1, or constant truth (or predictions, for
        spearman_r).
        """
        unscorable = self.unscorable(predictions)
        if unscorable:
            return unscorable
        predictions = np.asarray(predictions, np.float64)
        truth = np.asarray(truth, np.float64)
        weights = np.asarray(weights, np.float64)
        errors = predictions - truth
        mse = float(np.average(errors**2, weights=weights))
        mean = np.average(truth, weights=weights)
        variance = float(np.average((truth - mean) ** 2, weights=weights))
        return {
            "mean_absolute_error": float(np.average(np.abs(errors), weights=weights)),
            "mean_squared_error": mse,
            "median_absolute_error": weighted_median(np.abs(errors), weights),
            "r_squared": 1.0 - mse / variance if variance > 0 else 0.0,
            "spearman_r": weighted_spearman(predictions, truth, weights),
        }

    def prediction_record(self, prediction):
        return float(prediction)


def weighted_median(values, weights):
    """The median of `values` with each repeated `weights` times: the mean of the lowest
    value whose cumulative weight reaches half the total and the lowest that passes it."""
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    cumulative = np.cumsum(weights[order])
    half = cumulative[-1] / 2
    last = len(values) - 1
    lower = ranked[min(np.searchsorted(cumulative, half, side="left"), last)]
    upper = ranked[min(np.searchsorted(cumulative, half, side="right"), last)]
    return float((lower + upper) / 2)


def weighted_ranks(values, weights):
    """Mid-ranks of `values` with each repeated `weights` times, less 1/2 (the same for every
    row, so no correlation sees it): the weight of the smaller values plus half of the
    value's own."""
    distinct, inverse = np.unique(values, return_inverse=True)
    totals = np.bincount(inverse, weights=weights, minlength=len(distinct))
    return (np.cumsum(totals) - totals / 2)[inverse]


def weighted_spearman(x, y, weights):
    """Spearman's rank correlation, weighted (`weighted_ranks`); 0 when either side has
    fewer than two distinct values among the rows that weigh anything (n <= 1 included)."""
    keep = weights > 0
    x, y, weights = x[keep], y[keep], weights[keep]
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return 0.0
    rx, ry = weighted_ranks(x, weights), weighted_ranks(y, weights)
    rx -= np.average(rx, weights=weights)
    ry -= np.average(ry, weights=weights)
    covariance = np.average(rx * ry, weights=weights)
    scale = np.sqrt(np.average(rx**2, weights=weights) * np.average(ry**2, weights=weights))
    return float(np.clip(covariance / scale, -1.0, 1.0))


def percentage_error(mean, stdev):
    def mean_percentage_error(y_true, y_pred):
        truth = y_true * stdev + mean
        predicted = y_pred * stdev + mean
        return keras.losses.mean_absolute_percentage_error(truth, predicted)

    return mean_percentage_error
