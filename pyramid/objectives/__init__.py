"""Objectives: what a network learns to predict, one class per objective type.

An objective owns everything that depends on the kind of label: the training targets and
what a dataset element carries, the loss, the holdout's strata, the holdout metrics and the
primary metric checks and candidates are compared on, the output exposition written into
the model, the results table's columns and the predictions file's records. The fit loop,
the data and the outputs ask the objective instead of testing its type.

Adding an objective type is writing one module with an `Objective` subclass and adding it to
`OBJECTIVES` below (the config's `objective_type` must accept its name).
"""

from pyramid.objectives.bounding_box import BoundingBox
from pyramid.objectives.categorical import Categorical
from pyramid.objectives.numeric import Numeric

OBJECTIVES = {objective.name: objective for objective in (Categorical, Numeric, BoundingBox)}


def make_objective(config):
    """The objective of a validated config, fitted to its labels."""
    return OBJECTIVES[config.objective_type].from_config(config)
