"""The tree embedding of dataset_caching: small random forests over windows of the expanded
inputs, whose outputs become extra input columns (earlier-implementation.md 9.3), stored as
`trees.json` for sensenet's BigMLTreeify op (sensenet-format.md 5), with `tree_importances.json`
(worker-jobs.md 4).

numpy and scikit-learn only; shapsplain (which imports TensorFlow) only inside
`tree_importances`, so that a bad cache is still reported before TensorFlow loads.

How the earlier implementation's recipe is followed, and where this one decides:
- Rows keep the caller's order: `features[i]` is row i's tree columns (the earlier
  implementation re-ordered the whole cache as half 1, half 2, heldout; nothing needs that,
  and a caller that keeps its own row order cannot get its rows mixed up).
- At most 2048 "train" rows (stratified for a categorical objective, rate 0.5), split again into
  two halves (at most 1024 each). The rest are "heldout".
- Categorical: only the classes present in both halves are learnt, but every window still has
  one column per objective class, in objective class order: a class no forest saw is a
  constant 0 (the earlier implementation wrote one column per class seen, so the tree width
  could disagree with `tree_feature_count`).
- Per window two forests (8 trees, min_samples_leaf=16, random_state=seed, balanced class
  weights), one per half; each half's rows get the other half's forest (cross-fitting, so a
  row's tree features never come from trees that saw it); the stored forest is the first 4
  trees of forest 1 and the last 4 of forest 2, and it gives the heldout rows theirs.
- Thresholds are written as the largest float32 not above scikit-learn's float64 threshold:
  sensenet compares float32 inputs with float32 thresholds, scikit-learn float32 inputs with
  float64 ones, and rounding to nearest could move a data value across a split.
- Deterministic for an integer seed (the row splits use numpy's default_rng(seed)).
"""

import copy
import math
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

CATEGORICAL = "categorical"
TRAIN_RATE, TRAIN_LIMIT, HALF_LIMIT = 0.5, 2048, 1024
TREES, MIN_LEAF, KEPT_FROM_EACH = 8, 16, 4
MAX_MODELS, MAX_WINDOW_INPUTS, MIN_WIDTH = 16, 128, 3


def tree_feature_count(n_inputs, n_classes, tree_inputs=None):
    """How many tree columns: `min(16, max(1, min(128, F) // C)) * C` for F expanded inputs and
    C objective classes (1 if numeric). A given `tree_inputs` (0 or None means "computed") is
    rounded down to a multiple of C, at least C: every window gives C columns."""
    if n_classes < 1:
        raise ValueError("the objective needs at least one class, got %r" % n_classes)
    if tree_inputs:
        return max(1, int(tree_inputs) // n_classes) * n_classes
    return min(MAX_MODELS, max(1, min(MAX_WINDOW_INPUTS, n_inputs) // n_classes)) * n_classes


def windows(n_inputs, n_classes, features):
    """The `[start, end]` input columns of each of the `features / C` forests: window i starts at
    min(F - 1, round(i * stride)) with stride F / windows, is max(3, ceil(stride)) wide, clipped
    to F. (Python's round, half to even, as the earlier implementation.)"""
    if n_inputs < 1:
        raise ValueError("a tree embedding needs at least one input column")
    count = features // n_classes
    stride = n_inputs / count
    width = max(MIN_WIDTH, math.ceil(stride))
    result = []
    for i in range(count):
        start = min(n_inputs - 1, round(i * stride))
        result.append([start, min(n_inputs, start + width)])
    return result


@dataclass
class TreeEmbedding:
    """What `learn_tree_embedding` learnt.

    features: float32 [rows, windows * C], row i's tree columns, window by window, each window's
        C columns in objective class order (C = 1 for numeric).
    trees_json: `trees.json`, `[[start, end], [tree x 8]]` per window.
    windows: the `[start, end]` of each window. forests: the stored (combined) forest of each
    window, a fitted scikit-learn forest. half_forests: each window's (forest 1, forest 2).
    half1, half2, heldout: row indices (ascending) of each part.
    classes: the objective classes the forests learnt (categorical), else None.
    """

    features: np.ndarray
    trees_json: list
    windows: list
    forests: list
    half_forests: list
    half1: np.ndarray
    half2: np.ndarray
    heldout: np.ndarray
    n_classes: int
    classes: np.ndarray = field(default=None)

    @property
    def categorical(self):
        return self.classes is not None


def learn_tree_embedding(X, y, objective_type, n_classes, seed, tree_inputs=None):
    """Learn the embedding of X (float [rows, F], the expanded inputs as cached) for y (class
    indices if `objective_type` is "categorical", else values); returns a TreeEmbedding."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError("tree embedding: the inputs must be a finite 2-d matrix")
    categorical = objective_type == CATEGORICAL
    n_classes = int(n_classes) if categorical else 1
    y = np.asarray(y)
    labels = _class_indices(y, n_classes) if categorical else y.astype(np.float64).ravel()
    rng = np.random.default_rng(seed)

    rows = np.arange(len(X))
    strata = labels if categorical else None
    train = _pick(rows, strata, min(TRAIN_LIMIT, round(TRAIN_RATE * len(rows))), rng)
    half1 = _pick(train, labels[train] if categorical else None, min(HALF_LIMIT, round(0.5 * len(train))), rng)
    half2 = np.setdiff1d(train, half1)
    heldout = np.setdiff1d(rows, train)

    classes = None
    fit1, fit2 = half1, half2
    if categorical:
        classes = np.intersect1d(labels[half1], labels[half2])
        classes = classes[classes >= 0]
        fit1, fit2 = half1[np.isin(labels[half1], classes)], half2[np.isin(labels[half2], classes)]
    if len(fit1) == 0 or len(fit2) == 0:
        raise ValueError("tree embedding: too few rows to learn from (%d rows%s)" % (
            len(X), ", no class has rows in both halves" if categorical else ""))

    spans = windows(X.shape[1], n_classes, tree_feature_count(X.shape[1], n_classes, tree_inputs))
    features = np.zeros((len(X), len(spans) * n_classes), np.float32)
    trees_json, forests, half_forests = [], [], []
    for w, (start, end) in enumerate(spans):
        part = X[:, start:end]
        forest1 = _new_forest(categorical, seed).fit(part[fit1], labels[fit1])
        forest2 = _new_forest(categorical, seed).fit(part[fit2], labels[fit2])
        combined = copy.copy(forest1)
        combined.estimators_ = forest1.estimators_[:KEPT_FROM_EACH] + forest2.estimators_[-KEPT_FROM_EACH:]
        columns = slice(w * n_classes, (w + 1) * n_classes)
        for these, forest in ((half1, forest2), (half2, forest1), (heldout, combined)):
            if len(these):
                features[these, columns] = forest_outputs(forest, part[these], n_classes)
        trees_json.append([[start, end], [tree_json(t, classes, n_classes) for t in combined.estimators_]])
        forests.append(combined)
        half_forests.append((forest1, forest2))
    return TreeEmbedding(features, trees_json, spans, forests, half_forests, half1, half2, heldout,
                         n_classes, classes)


def forest_outputs(forest, X, n_classes):
    """float32 [rows, C]: a classifier's probabilities placed at their class's column (a class
    it never saw stays 0), or a regressor's prediction."""
    if isinstance(forest, RandomForestClassifier):
        result = np.zeros((len(X), n_classes), np.float32)
        result[:, forest.classes_.astype(int)] = forest.predict_proba(X)
        return result
    return forest.predict(X).astype(np.float32)[:, None]


def tree_json(estimator, classes, n_classes):
    """One fitted scikit-learn tree as sensenet's nested lists: `[feature, threshold, left,
    right]` (left is `x <= threshold`), leaves `[[probabilities over all C classes], None]` or
    `[[value], None]`."""
    tree = estimator.tree_

    def node(i):
        if tree.children_left[i] < 0:
            value = tree.value[i][0]
            if classes is None:
                return [[float(value[0])], None]
            total = float(np.sum(value))
            probabilities = np.zeros(n_classes)
            probabilities[classes] = value / total if total > 0 else 1.0 / len(classes)
            return [probabilities.tolist(), None]
        return [int(tree.feature[i]), float32_at_most(tree.threshold[i]),
                node(tree.children_left[i]), node(tree.children_right[i])]

    return node(0)


def float32_at_most(threshold):
    """The largest float32 <= threshold, as a Python float (exact in JSON): for float32 x,
    x <= result exactly when x <= threshold."""
    result = np.float32(threshold)
    if float(result) > float(threshold):
        result = np.nextafter(result, np.float32(-np.inf))
    return float(result)


def tree_importances(embedding, column_fields):
    """`tree_importances.json`: for each tree column (in `features` order) a dict
    `{str(input field): importance}`, from shapsplain's TreeSHAP importances of the stored
    forest for that output, window columns mapped to their field (`column_fields[j]` is the
    input field of expanded column j) and summed. A class no forest learnt, and an output whose
    importances are not finite (a forest without a split), gets {}."""
    from pyramid.importers import quiet_stderr  # TensorFlow's environment, before shapsplain's

    with quiet_stderr():
        from shapsplain.scikit import shap_importances

    column_fields = [int(f) for f in column_fields]
    result = []
    for (start, end), forest in zip(embedding.windows, embedding.forests):
        fields = {str(j): {"optype": "numeric", "name": str(j)} for j in range(end - start)}
        has_split = any(t.tree_.node_count > 1 for t in forest.estimators_)
        outputs = shap_importances(forest, fields, False) if has_split else None
        entries = [{} for _ in range(embedding.n_classes)]
        places = embedding.classes if embedding.categorical else [0]
        for k, place in enumerate(places):
            if outputs is not None:
                entries[int(place)] = _by_field(outputs[k], start, column_fields)
        result.extend(entries)
    return result


def _by_field(pairs, start, column_fields):
    """shapsplain's `[[column, importance], ...]` summed per input field; non-finite skipped."""
    sums = {}
    for column, value in pairs:
        if math.isfinite(value):
            key = str(column_fields[start + int(column)])
            sums[key] = sums.get(key, 0.0) + float(value)
    return sums


def _new_forest(categorical, seed):
    if categorical:
        return RandomForestClassifier(n_estimators=TREES, min_samples_leaf=MIN_LEAF, class_weight="balanced",
                                      random_state=seed, n_jobs=1)
    return RandomForestRegressor(n_estimators=TREES, min_samples_leaf=MIN_LEAF, random_state=seed, n_jobs=1)


def _class_indices(y, n_classes):
    labels = y.ravel()
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)) or np.any(labels >= n_classes):
        raise ValueError("tree embedding: a categorical objective takes class indices below %d" % n_classes)
    return labels.astype(np.int64)


def _pick(rows, strata, count, rng):
    """`count` of `rows` (ascending), each stratum in proportion to its size: rows are ranked by
    (random position within their stratum + U(0, 1)) / stratum size. No strata: at random."""
    if strata is None:
        return np.sort(rng.permutation(rows)[:count])
    keys = np.empty(len(rows))
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        spread = (np.arange(len(members)) + rng.random(len(members))) / len(members)
        keys[members[rng.permutation(len(members))]] = spread
    return np.sort(rows[np.argsort(keys, kind="stable")[:count]])


def apply_trees(trees_json, features):
    """float32 [rows, tree features]: what sensenet's tree op computes from `trees.json` on
    preprocessed feature rows (float32 comparisons, `x <= threshold` goes left, each forest
    the mean of its trees' leaves), in numpy. It is how pyramid predicts a new row with trees:
    the cached tree columns of the rows the forests learnt on are cross-fitted instead."""
    features = np.asarray(features, np.float32)
    blocks = []
    for (start, end), forest in trees_json:
        window = features[:, start:end]
        blocks.append(np.mean([_tree_leaves(tree, window) for tree in forest], axis=0, dtype=np.float64))
    return np.concatenate(blocks, axis=1).astype(np.float32) if blocks else np.zeros((len(features), 0), np.float32)


def _tree_leaves(node, window):
    """The leaf vector each row of `window` reaches in one tree."""
    if node[1] is None:
        return np.tile(np.asarray(node[0], np.float32), (len(window), 1))
    feature, threshold, left, right = node
    goes_left = window[:, feature] <= np.float32(threshold)
    result = np.empty((len(window), _leaf_width(node)), np.float32)
    if goes_left.any():
        result[goes_left] = _tree_leaves(left, window[goes_left])
    if (~goes_left).any():
        result[~goes_left] = _tree_leaves(right, window[~goes_left])
    return result


def _leaf_width(node):
    while node[1] is not None:
        node = node[2]
    return len(node[0])
