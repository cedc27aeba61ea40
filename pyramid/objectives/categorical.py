"""Classification: one softmax output per class, in sorted class order."""

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from pyramid.importers import keras
from pyramid.objectives.base import Objective
from pyramid.train.loss_settings import LOSSES

PROBABILITY_FLOOR = 1e-7


class Categorical(Objective):
    """Targets are one-hot class vectors, smoothed by `label_smoothing`; predictions are
    class probabilities. Checks compare `likelihood` (exp of minus the mean log loss),
    smoother than accuracy on small holdouts."""

    name = "categorical"
    primary = "likelihood"
    columns = (("accuracy", "Accuracy"), ("auc", "AUC"), ("likelihood", "Likelihood"))
    output_activation = "softmax"
    strata_are_classes = True

    def __init__(self, labels, classes, label_smoothing=0.0):
        self.classes = list(classes)
        self.label_smoothing = label_smoothing
        self.class_ids = np.array([self.classes.index(label) for label in labels])

    @classmethod
    def from_config(cls, config):
        return cls(config.labels, config.classes, config.label_smoothing_factor)

    def strata(self):
        return self.class_ids

    def balance_ids(self):
        return self.class_ids

    def targets(self):
        n_classes = len(self.classes)
        onehot = np.eye(n_classes, dtype=np.float32)[self.class_ids]
        return onehot * (1 - self.label_smoothing) + self.label_smoothing / n_classes

    def describe_target(self, target):
        return str(self.classes[int(np.argmax(target))])

    def loss(self, name):
        return getattr(keras.losses, LOSSES[name].keras_class)()

    def predictions(self, outputs, rows=None, document=None):
        return outputs

    def truth(self, rows):
        return self.class_ids[rows]

    def metrics(self, predictions, truth, weights):
        probabilities = np.asarray(predictions, np.float64)
        weights = np.asarray(weights, np.float64)
        correct = np.argmax(probabilities, axis=1) == truth
        true_probability = probabilities[np.arange(len(truth)), truth]
        log_loss = -np.log(np.clip(true_probability, PROBABILITY_FLOOR, 1.0))
        return {
            "accuracy": float(np.average(correct, weights=weights)),
            "auc": auc(probabilities, truth, weights),
            "likelihood": float(math.exp(-np.average(log_loss, weights=weights))),
        }


def auc(probabilities, class_ids, weights):
    """Macro one-vs-rest AUC over the classes present in the holdout (0.5 if undefined)."""
    present = np.unique(class_ids)
    if len(present) < 2:
        return 0.5
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(class_ids, probabilities[:, 1], sample_weight=weights))
    scores = [roc_auc_score(class_ids == c, probabilities[:, c], sample_weight=weights) for c in present]
    return float(np.mean(scores))
