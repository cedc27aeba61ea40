"""What the worker's training jobs (image_training, standard_training, search_submodel) share:
their time budget, their stop message and per-class row weights."""

import numpy as np

from pyramid.errors import InputError
from pyramid.settings.messages import show

# Without max_training_time a job has no time limit: its other stopping rules end it.
NO_TIME_LIMIT = 10.0**9
STOP_MESSAGES = {
    "holdout stopped improving": "Maximum improvement checks  (%(checks)d >= %(patience)d) reached",
    "time budget used": "Maximum total training time  (%(elapsed).1f > %(budget)s) reached",
    "max_iterations reached": "Maximum iterations (%(iterations)d >= %(max_iterations)s) reached",
}


def deadline(report, settings):
    """`max_training_time` seconds from the job's start (model building and reading count)."""
    return report.started + (settings.max_training_time or NO_TIME_LIMIT)


def class_weight_per_row(class_weights, classes, class_ids):
    """Each row's class weight: given ones for the listed classes, 1 for the others, all
    normalised to sum 1 as before (only their ratios matter: rows' weights are relative)."""
    per_class = np.ones(len(classes))
    for index, pair in enumerate(class_weights):
        if not (len(pair) == 2 and pair[0] in classes and isinstance(pair[1], (int, float))
                and not isinstance(pair[1], bool) and pair[1] > 0):
            raise InputError("class_weights[%d]: %s is not allowed; expected [class name, weight > 0] "
                             "with a class of %s" % (index, show(pair), show(classes)))
        per_class[classes.index(pair[0])] = pair[1]
    per_class /= per_class.sum()
    return per_class[np.maximum(class_ids, 0).astype(int)]


def stop_message(result, settings):
    values = {
        "checks": len(result.checks), "patience": settings.patience, "elapsed": result.elapsed,
        "budget": settings.max_training_time, "iterations": result.iterations,
        "max_iterations": settings.max_iterations,
    }
    return STOP_MESSAGES.get(result.stop_reason, "Training stopped: %s" % result.stop_reason) % values
