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

    def __init__(self, labels):
        self.values = np.asarray(labels, dtype=np.float64)
        self.mean = float(self.values.mean())
        stdev = float(self.values.std())
        # A constant label has nothing to scale; sensenet treats stdev 0 as 1 too.
        self.stdev = stdev if stdev > 0 else 1.0

    @classmethod
    def from_config(cls, config):
        return cls(config.labels)

    def strata(self):
        edges = np.quantile(self.values, np.linspace(0, 1, STRATA + 1)[1:-1])
        return np.searchsorted(edges, self.values, side="right")

    def targets(self):
        return ((self.values - self.mean) / self.stdev).astype(np.float32)[:, None]

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
        predictions = np.asarray(predictions, np.float64)
        weights = np.asarray(weights, np.float64)
        errors = predictions - truth
        mse = float(np.average(errors**2, weights=weights))
        mean = np.average(truth, weights=weights)
        variance = float(np.average((truth - mean) ** 2, weights=weights))
        return {
            "mean_absolute_error": float(np.average(np.abs(errors), weights=weights)),
            "mean_squared_error": mse,
            "r_squared": 1.0 - mse / variance if variance > 0 else 0.0,
        }

    def prediction_record(self, prediction):
        return float(prediction)


def percentage_error(mean, stdev):
    def mean_percentage_error(y_true, y_pred):
        truth = y_true * stdev + mean
        predicted = y_pred * stdev + mean
        return keras.losses.mean_absolute_percentage_error(truth, predicted)

    return mean_percentage_error
