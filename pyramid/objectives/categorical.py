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
    metric_names = ("accuracy", "auc", "likelihood", "max_phi", "ndcg")
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

    def stored_label(self, row):
        return int(self.class_ids[row])

    def describe_target(self, target):
        return str(self.classes[int(np.argmax(target))])

    def loss(self, name):
        return getattr(keras.losses, LOSSES[name].keras_class)()

    def predictions(self, outputs, rows=None, document=None):
        return outputs

    def truth(self, rows):
        return self.class_ids[rows]

    def metrics(self, predictions, truth, weights):
        """accuracy, auc, likelihood, max_phi and ndcg (all higher is better).

        A row of weight w counts as w copies of the row in accuracy, likelihood, auc and
        max_phi. ndcg ranks rows, and a fractional weight has no place in a ranking, so it
        counts every row once. max_phi and ndcg average over the classes present in the
        holdout, like auc; with one class present max_phi is 0 (no threshold separates
        anything) and ndcg 1.
        """
        unscorable = self.unscorable(predictions)
        if unscorable:
            return unscorable
        probabilities = np.asarray(predictions, np.float64)
        weights = np.asarray(weights, np.float64)
        truth = np.asarray(truth)
        correct = np.argmax(probabilities, axis=1) == truth
        true_probability = probabilities[np.arange(len(truth)), truth]
        log_loss = -np.log(np.clip(true_probability, PROBABILITY_FLOOR, 1.0))
        phi, gain = ranking_metrics(probabilities, truth, weights)
        return {
            "accuracy": float(np.average(correct, weights=weights)),
            "auc": auc(probabilities, truth, weights),
            "likelihood": float(math.exp(-np.average(log_loss, weights=weights))),
            "max_phi": phi,
            "ndcg": gain,
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


# Classes ranked at a time: bounds the [classes, rows] arrays (4096 rows: 4 MB each).
RANKING_CHUNK = 128


def ranking_metrics(probabilities, class_ids, weights):
    """(max_phi, ndcg) of the holdout: each the mean over the present classes."""
    present = np.unique(class_ids)
    phi, gain = [], []
    for first in range(0, len(present), RANKING_CHUNK):
        ranking = OneVsRestRanking(probabilities, class_ids, present[first : first + RANKING_CHUNK])
        phi.append(max_phi(ranking, weights))
        gain.append(ndcg(ranking))
    return (
        float(np.clip(np.mean(np.concatenate(phi)), 0.0, 1.0)),
        float(np.clip(np.mean(np.concatenate(gain)), 0.0, 1.0)),
    )


class OneVsRestRanking:
    """The holdout rows ranked by the probability of each of `classes`, most probable first:
    the one sort that max_phi and ndcg share. Arrays are [classes, rows]."""

    def __init__(self, probabilities, class_ids, classes):
        scores = np.ascontiguousarray(probabilities[:, classes].T)
        self.order = np.argsort(-scores, axis=1, kind="stable")
        ranked = np.take_along_axis(scores, self.order, axis=1)
        # Is the row of this class? (the one-vs-rest truth and the ndcg relevance)
        self.relevant = class_ids[self.order] == np.asarray(classes)[:, None]
        # The last row of each run of equal scores: where a threshold can fall.
        self.run_ends = np.ones(ranked.shape, bool)
        self.run_ends[:, :-1] = ranked[:, 1:] != ranked[:, :-1]


def suffix_sums(values):
    """Per class, the sum of the rows after each row (0 after the last)."""
    after = np.zeros_like(values)
    after[:, :-1] = np.cumsum(values[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return after


def max_phi(ranking, weights):
    """Per class, the largest Matthews correlation (phi) of "is this class" against "the
    class's probability >= t", over every threshold t; rows weighted.

    Every distinct score is a threshold, plus one above all scores (nothing predicted, phi 0),
    so the maximum is never below 0. That is the maximum over sklearn's `roc_curve`
    thresholds too: those it drops lie on a straight ROC segment, and phi along a segment is
    (linear) / sqrt(concave), whose positive maximum is at an end. One sort per class, then
    cumulative (weighted) counts: O(n log n) per class.
    """
    w = weights[ranking.order]
    positive = np.where(ranking.relevant, w, 0.0)
    negative = np.where(ranking.relevant, 0.0, w)
    tp, fp = np.cumsum(positive, axis=1), np.cumsum(negative, axis=1)
    # The rows below the threshold summed directly, not as total - cumsum: then they are
    # exactly 0 at the last row and rounding never makes a tiny denominator.
    fn, tn = suffix_sums(positive), suffix_sums(negative)
    numerator = tp * tn - fp * fn
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    valid = ranking.run_ends & (denominator > 0)
    phi = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=valid)
    return phi.max(axis=1)  # the invalid thresholds count as 0


def ndcg(ranking):
    """Per class, sklearn's `ndcg_score` of the class's column: for class c, the rows ranked by
    their probability of c (one query whose documents are the holdout rows), relevance 1 for
    the rows of class c and 0 for the others. (`ndcg_score` of the whole [rows, classes]
    matrix would instead rank the classes within each row: not what BigML ranks on.)

    As `ndcg_score` (k=None, log base 2, ignore_ties=False): a run of tied scores shares its
    mean relevance over its positions' discounts; divided by the ideal DCG, the class's
    rows all first. Vectorised over classes instead of a call per class.
    """
    k, n = ranking.relevant.shape
    # Cumulative discounts and relevant counts, with a leading 0: [i] sums the first i rows.
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(n) + 2.0))])
    relevant = np.zeros((k, n + 1))
    relevant[:, 1:] = np.cumsum(ranking.relevant, axis=1)
    rows = np.arange(n)
    # For each row, the last row of the run of ties before its own (-1 for the first run).
    previous = np.full((k, n), -1)
    previous[:, 1:] = np.maximum.accumulate(np.where(ranking.run_ends, rows, -1), axis=1)[:, :-1]
    # Taken at the last row of each run: its relevant count and size, and its discounts.
    run_relevant = relevant[:, 1:] - np.take_along_axis(relevant, previous + 1, axis=1)
    run_relevance = run_relevant / (rows - previous)
    run_discount = discounts[rows + 1] - discounts[previous + 1]
    dcg = np.where(ranking.run_ends, run_relevance * run_discount, 0.0).sum(axis=1)
    ideal = discounts[relevant[:, -1].astype(int)]  # every class ranked has a row: > 0
    return dcg / ideal
