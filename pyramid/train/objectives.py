"""Losses and training targets for categorical and numeric objectives."""

import numpy as np

from pyramid.importers import keras



class Objective:
    """What the network predicts and how its outputs map to labels.

    Categorical: one softmax output per class, in `classes` order. Numeric: one output in
    standardised units, `label = output * stdev + mean` (sensenet's output_exposition).
    """

    def __init__(self, labels, classes, label_smoothing=0.0):
        self.classes = classes
        self.categorical = classes is not None
        self.label_smoothing = label_smoothing
        if self.categorical:
            self.class_ids = np.array([classes.index(label) for label in labels])
        else:
            values = np.asarray(labels, dtype=np.float64)
            self.mean = float(values.mean())
            stdev = float(values.std())
            # A constant label has nothing to scale; sensenet treats stdev 0 as 1 too.
            self.stdev = stdev if stdev > 0 else 1.0
            self.values = values

    @property
    def n_outputs(self):
        return len(self.classes) if self.categorical else 1

    @property
    def output_exposition(self):
        if self.categorical:
            return {"type": "categorical", "values": list(self.classes)}
        return {"type": "numeric", "mean": self.mean, "stdev": self.stdev}

    def targets(self):
        """float32 training targets for every row: smoothed one-hot, or standardised values."""
        if self.categorical:
            n_classes = len(self.classes)
            onehot = np.eye(n_classes, dtype=np.float32)[self.class_ids]
            smoothing = self.label_smoothing
            return onehot * (1 - smoothing) + smoothing / n_classes
        return ((self.values - self.mean) / self.stdev).astype(np.float32)[:, None]

    def to_labels(self, outputs):
        """Network outputs as predictions: class probabilities, or values in label units."""
        if self.categorical:
            return outputs
        return outputs[:, 0] * self.stdev + self.mean


def make_loss(name, objective):
    """The Keras loss for `name`; numeric losses see standardised values except MAPE."""
    losses = {
        "crossentropy": keras.losses.CategoricalCrossentropy,
        "hinge": keras.losses.CategoricalHinge,
        "kl_divergence": keras.losses.KLDivergence,
        "cosine": keras.losses.CosineSimilarity,
        "mean_squared_error": keras.losses.MeanSquaredError,
        "huber": keras.losses.Huber,
    }
    if name == "mean_percentage_error":
        return percentage_error(objective.mean, objective.stdev)
    return losses[name]()


def percentage_error(mean, stdev):
    """Mean absolute percentage error in label units (standardised values sit around 0,
    where a percentage means nothing)."""

    def mean_percentage_error(y_true, y_pred):
        truth = y_true * stdev + mean
        predicted = y_pred * stdev + mean
        return keras.losses.mean_absolute_percentage_error(truth, predicted)

    return mean_percentage_error
