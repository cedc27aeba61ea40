"""Holdout metrics as BigML's backend reads them in `validation_metrics` (worker-jobs.md
section 4): the objectives' own metrics (`pyramid.objectives`), with the error metrics negated.

categorical: accuracy, auc, likelihood, max_phi, ndcg
numeric:     mean_absolute_error, mean_squared_error, median_absolute_error (negated),
             r_squared, spearman_r
"""

import math

# The backend compares candidates metric by metric as "higher is better" (it counts the
# metrics that went up against those that went down), so the earlier implementation stored
# these errors negated. pyramid's own outputs (pyramid_train's tables and files) keep them
# positive; only what the worker hands the backend is negated, here.
NEGATED = ("mean_absolute_error", "mean_squared_error", "median_absolute_error")


def for_backend(metrics):
    """A new dict of `metrics` with the backend's signs, keys in the order of worker-jobs.md
    section 4 (alphabetical for both objectives), values plain floats. A NaN or infinite
    value raises ValueError: the worker never writes one."""
    result = {}
    for name in sorted(metrics):
        value = float(metrics[name])
        if not math.isfinite(value):
            raise ValueError("validation metric %s is %r: the worker never writes NaN or infinity"
                             % (name, value))
        # 0.0 - value, not -value: an error of 0 stays 0.0 rather than -0.0.
        result[name] = 0.0 - value if name in NEGATED else value
    return result
