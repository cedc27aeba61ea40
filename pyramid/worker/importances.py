"""Shapley importances of a trained dense network per original input field, for
`model_fit_info.json`'s `importances` (earlier-implementation.md 9.5).

`field_importances(keras_model, importance_rows, column_fields, tree_importances, n_tree_columns)`
is the entry point:

1. The field map (9.5 step 1): column j of the network's input is `(-1, j)` for the j-th tree
   feature column, then `(field i, sub-column s)` for each expanded column in column order (s
   counts the columns of field i: 0 for a numeric, the value's position for a one-hot
   categorical, the feature's position for an image). shapsplain wants `fields` as a dict
   `{label: {"index": column}}` and answers with the labels, so these tuples are its labels.
2. shapsplain's `GradientExplainer(model, rows, fields).shap_importances()`: for each reference
   row r and two of its classes, phi = mean over every reference row d of
   `grad_class(d + u * (r - d)) * (r - d)` (integrated gradients from d to r, one random
   u ~ U(0, 1) per d from `random.Random(seed + index of r)`), |phi| summed over rows and
   classes and normalised to sum 1: one value per column.
3. Per original field: a column's value goes to its field; a tree feature's value is spread
   over the fields by its `tree_importances.json` entry (`{str(field): share}`, TreeSHAP of the
   forest that makes that column; the shares are normalised to sum 1 here). Non-finite values
   and shares are skipped. The result is normalised to sum 1.

Decisions against the earlier implementation's quirks:
- **Classes explained: the two the model predicts most likely for each reference row.**
  shapsplain 0.3.0 comments "the top two predicted classes" but takes `argsort(...)[:, :2]`,
  the two *least* likely classes. Explaining the classes the model does not predict would
  measure what moves near-zero probabilities, so a `GradientExplainer` subclass replaces
  `_data_classes` with the top two (descending order, ties to the lower class index); the
  rest of shapsplain runs as is. With two classes both are explained either way (same
  result as shapsplain's), and a single output (regression) explains output 0.
- A tree column whose `tree_importances` entry is empty (a class no forest learnt, a forest
  without a split: a constant column, so its phi is 0 anyway) or has no positive finite share
  cannot be attributed to a field: its value is dropped (before the final normalisation).
- Everything zero or non-finite (e.g. a constant importance set, a model that ignores its
  inputs, a network that outputs NaN; shapsplain divides by the total, so one non-finite
  column makes every column non-finite): **equal shares** `1 / fields`, so the list is still
  valid and says "no field stands out" rather than failing the job.
- At most one original input field: `[1.0]` (nothing to compare), without running TensorFlow.

Deterministic: shapsplain's sampling is seeded (default 42, as before) and the gradients are
computed in fixed batches.
"""

import math

import numpy as np

from pyramid.importers import quiet_stderr  # TensorFlow's environment (tf-keras) before shapsplain's

DEFAULT_SEED = 42
TREE_FIELD = -1


def field_importances(keras_model, importance_rows, column_fields, tree_importances=None,
                      n_tree_columns=None, n_fields=None, seed=DEFAULT_SEED):
    """A list of floats, one per original input field, summing to 1.

    keras_model: takes float32 `[n, n_tree_columns + len(column_fields)]` and outputs class
        probabilities `[n, C]` or one number `[n, 1]` (a tf-keras model with `input`/`output`).
    importance_rows: the inputs part of `importance_dataset.npy` (its last column, the class
        index or value, removed): `[rows, tree columns + expanded inputs]`, any float dtype.
    column_fields: the original field index of each expanded input column, in column order.
    tree_importances: `tree_importances.json`, one `{str(field): share}` per tree column
        (needed when there are tree columns).
    n_tree_columns: the number of leading tree columns; by default the rows' width minus
        `len(column_fields)`.
    n_fields: the number of original input fields; by default `max(column_fields) + 1`.
    """
    column_fields = [int(f) for f in column_fields]
    if n_fields is None:
        n_fields = max(column_fields) + 1 if column_fields else 0
    if n_fields <= 1:
        return [1.0]
    rows = _input_rows(importance_rows, column_fields, n_tree_columns)
    n_tree_columns = rows.shape[1] - len(column_fields)
    columns = field_map(column_fields, n_tree_columns)
    values = column_importances(keras_model, rows, columns, seed)
    return aggregate(values, column_fields, tree_importances, n_tree_columns, n_fields)


def field_map(column_fields, n_tree_columns=0):
    """The label of each network input column: `(-1, j)` for tree column j, then
    `(field, sub-column within the field)` for each expanded column."""
    labels = [(TREE_FIELD, j) for j in range(n_tree_columns)]
    seen = {}
    for field in column_fields:
        field = int(field)
        labels.append((field, seen.get(field, 0)))
        seen[field] = seen.get(field, 0) + 1
    return labels


def column_importances(keras_model, rows, columns, seed=DEFAULT_SEED):
    """shapsplain's importance of each input column (float64 [columns], in column order,
    summing to 1 unless non-finite), `columns` being `field_map`'s labels."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != len(columns):
        raise ValueError("importances: %d labels for rows of shape %s" % (len(columns), rows.shape))
    explainer = explainer_for(keras_model, rows, columns)
    with np.errstate(divide="ignore", invalid="ignore"):
        pairs = explainer.shap_importances(seed)
    position = {label: j for j, label in enumerate(columns)}
    values = np.full(len(columns), np.nan)
    for label, value in pairs:
        values[position[tuple(label)]] = value
    return values


def explainer_for(keras_model, rows, columns):
    """shapsplain's GradientExplainer over `rows` (float32), explaining each row's two most
    likely classes (see the module docstring)."""
    with quiet_stderr():
        from shapsplain.gradient import GradientExplainer

    class TopClassesExplainer(GradientExplainer):
        def __init__(self, model, data, fields):
            super().__init__(model, data, fields)
            predictions = np.asarray(model(data)).reshape(len(data), -1)
            self._data_classes = np.argsort(-predictions, axis=1, kind="stable")[:, :2]

    fields = {label: {"index": j, "name": str(label), "values": None} for j, label in enumerate(columns)}
    return TopClassesExplainer(keras_model, rows, fields)


def aggregate(column_values, column_fields, tree_importances, n_tree_columns, n_fields):
    """Per-column values to per-field shares summing to 1 (equal shares when nothing is
    positive and finite). Tree columns come first in `column_values`."""
    column_values = [float(v) for v in column_values]
    if len(column_values) != n_tree_columns + len(column_fields):
        raise ValueError("importances: %d values for %d tree and %d input columns"
                         % (len(column_values), n_tree_columns, len(column_fields)))
    if n_tree_columns and (tree_importances is None or len(tree_importances) < n_tree_columns):
        raise ValueError("importances: %d tree columns but %s tree_importances entries"
                         % (n_tree_columns, "no" if tree_importances is None else len(tree_importances)))
    sums = [0.0] * n_fields
    for j in range(n_tree_columns):
        value = column_values[j]
        if not math.isfinite(value):
            continue
        shares = {}
        for key, share in (tree_importances[j] or {}).items():
            field = _field_index(key, n_fields)
            share = float(share)
            if math.isfinite(share) and share > 0:
                shares[field] = shares.get(field, 0.0) + share
        total = sum(shares.values())
        if total > 0:
            for field, share in shares.items():
                sums[field] += value * share / total
    for value, field in zip(column_values[n_tree_columns:], column_fields):
        if math.isfinite(value):
            sums[_field_index(field, n_fields)] += value
    total = sum(sums)
    if not (math.isfinite(total) and total > 0):
        return [1.0 / n_fields] * n_fields
    return [s / total for s in sums]


def _field_index(key, n_fields):
    field = int(key)
    if not 0 <= field < n_fields:
        raise ValueError("importances: field %r is not one of the %d input fields" % (key, n_fields))
    return field


def _input_rows(importance_rows, column_fields, n_tree_columns):
    rows = np.asarray(importance_rows)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError("importances: the importance rows must be a non-empty 2-d matrix, got shape %s"
                         % (rows.shape,))
    n_inputs = len(column_fields)
    if n_tree_columns is None:
        n_tree_columns = rows.shape[1] - n_inputs
    if n_tree_columns < 0 or rows.shape[1] != n_tree_columns + n_inputs:
        raise ValueError("importances: rows have %d columns, expected %d tree columns + %d inputs "
                         "(without importance_dataset.npy's last, class or value, column)"
                         % (rows.shape[1], max(0, n_tree_columns), n_inputs))
    return rows
