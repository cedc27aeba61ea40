"""A cached dataset (`full_dataset.npy`, a subset, `evaluation_dataset.npy`) read back as the
columns dense training needs, and the rows the fit loop trains and checks on.

A cached row is `[tree features, inputs, weight?, objective]` (`pyramid.worker.dataset_caching`).
How many tree columns a file has follows from its width: everything before the inputs. A
model trained without `tree_embedding` on a cache with tree columns (a search's submodels
share one cache) drops them; a model with `tree_embedding` on a cache without them is an error.
"""

import json
import os

import numpy as np

from pyramid.data import rows as row_batches
from pyramid.data.holdout import missed_strata, split_holdout
from pyramid.errors import InputError
from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric
from pyramid.worker import cache
from pyramid.worker.outputs import NETWORK
from pyramid.worker.settings import model_id

EVALUATION_BATCH = 256


def input_widths(settings, schema):
    """The encoded width of each input column of `info_list`; an image column's is its image
    model's feature width (read from the network image_training stored)."""
    return schema.input_widths(image_feature_width(settings) if schema.image_positions else None)


def image_feature_width(settings):
    path = os.path.join(settings.output_directory, "submodel_" + model_id(settings), NETWORK)
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)["image_network"]["metadata"]["outputs"]
    except (OSError, ValueError, KeyError):
        raise InputError("the image model's network %s cannot be read: the workflow's image_training "
                         "job leaves it" % json.dumps(path)) from None


class CachedColumns:
    """The columns of one cached file: `features` (the network's input: tree features when
    used, then the inputs), `weights` (relative, mean 1), `objective` (one-hot or values)."""

    def __init__(self, path, settings, schema, widths, use_trees):
        matrix = read_matrix(path)
        classes = schema.objective_width
        weight_columns = 1 if schema.instance_weights else 0
        self.tree_columns = matrix.shape[1] - sum(widths) - weight_columns - classes
        if self.tree_columns < 0:
            raise InputError("cache_file %s has %d columns, fewer than info_list's %d inputs, weight and "
                             "objective take" % (json.dumps(path), matrix.shape[1], matrix.shape[1] - self.tree_columns))
        if use_trees and not self.tree_columns:
            raise InputError("tree_embedding: true, but cache_file %s has no tree columns; cache it with "
                             "tree_embedding or is_search" % json.dumps(path))
        first = 0 if use_trees else self.tree_columns
        self.uses_trees = bool(use_trees)
        end_inputs = matrix.shape[1] - weight_columns - classes
        self.features = np.ascontiguousarray(matrix[:, first:end_inputs], np.float32)
        weights = np.abs(matrix[:, end_inputs]) if weight_columns else np.ones(len(matrix))
        self.objective = matrix[:, matrix.shape[1] - classes:]
        self.weights = weights


def read_matrix(path):
    try:
        matrix = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError("cache_file %s does not exist" % json.dumps(path)) from None
    except (OSError, ValueError) as error:
        raise InputError("cache_file %s is not a dataset_caching .npy file: %s" % (json.dumps(path), error)) from None
    if matrix.ndim != 2 or not np.all(np.isfinite(matrix)):
        raise InputError("cache_file %s must hold a finite 2-D matrix" % json.dumps(path))
    return matrix


def objective_for(schema, objective_columns, label_smoothing=0.0):
    """The Objective of the cached objective columns: classes in info_list order, or the
    numeric scale of info_list (the cached values are standardised)."""
    exposition = schema.output_exposition
    if exposition["type"] == cache.CATEGORICAL:
        labels = [exposition["values"][index] for index in objective_columns.argmax(axis=1)]
        return Categorical(labels, exposition["values"], label_smoothing)
    values = objective_columns[:, 0] * exposition["stdev"] + exposition["mean"]
    return Numeric(values, (exposition["mean"], exposition["stdev"]))


class CachedRows:
    """What the fit loop (`pyramid.train.fit`) asks of its data, for cached feature rows."""

    def __init__(self, columns, settings, schema, class_weights=None):
        self.columns = columns
        self.settings = settings
        self.objective = objective_for(schema, columns.objective, settings.label_smoothing_factor)
        strata = self.objective.strata()
        self.train_rows, self.holdout_rows = split_holdout(
            strata, settings.holdout_set_size, settings.seed, settings.holdout_rate)
        self.missed_classes = missed_strata(strata, self.holdout_rows) if self.objective.strata_are_classes else 0
        if settings.cheat_on_validation:
            self.train_rows = np.arange(len(strata))
        weights = columns.weights * (class_weights if class_weights is not None else 1.0)
        self.weights = (weights / weights.mean()).astype(np.float32)
        self.targets = self.objective.targets()
        self.holdout_truth = self.objective.truth(self.holdout_rows)
        self.holdout_weights = self.weights[self.holdout_rows]

    def training_batches(self, stream=0, document=None):
        from pyramid.train.data import stream_seed

        balance = self.objective.balance_ids() if self.settings.balance_objective else None
        return row_batches.training_batches(
            self.columns.features, self.targets, self.weights, self.train_rows, self.settings.batch_size,
            stream_seed(self.settings.seed, stream), balance, self.settings.mixup_alpha,
        )

    def step_augmenter(self, stream=0):
        """None: rows of numbers are never augmented."""
        return None

    def holdout_batches(self):
        return row_batches.evaluation_batches(self.columns.features, self.holdout_rows, EVALUATION_BATCH)

    def raise_unreadable(self):
        """Nothing to find: the rows are numbers already."""
