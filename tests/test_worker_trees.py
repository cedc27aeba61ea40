"""The tree embedding of dataset_caching (pyramid.worker.trees) on scikit-learn's real data sets:
the 9.3 formulas, the row splits and cross-fitting against direct scikit-learn forests, the
tree JSON, the importances, and sensenet's BigMLTreeify op computing the stored forests."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from pyramid.worker import trees

SEED = 7


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target


@pytest.fixture(scope="module")
def diabetes():
    data = load_diabetes()
    return data.data.astype(np.float32) * 20, data.target


@pytest.fixture(scope="module")
def digits_embedding(digits):
    X, y = digits
    return trees.learn_tree_embedding(X, y, "categorical", 10, SEED)


@pytest.fixture(scope="module")
def diabetes_embedding(diabetes):
    X, y = diabetes
    return trees.learn_tree_embedding(X, (y - y.mean()) / y.std(), "numeric", 1, SEED)


def expected_windows(F, C, features):
    """9.3, written out again: n_mods = features / C, stride = F / n_mods, window i starts at
    min(F - 1, round(i * stride)), is max(3, ceil(stride)) wide, clipped to F."""
    n_mods = features // C
    stride = F / n_mods
    width = max(3, int(np.ceil(stride)))
    return [[min(F - 1, round(i * stride)), min(F, min(F - 1, round(i * stride)) + width)] for i in range(n_mods)]


@pytest.mark.parametrize("F, C, count", [(4, 1, 4), (10, 1, 10), (20, 1, 16), (200, 1, 16), (64, 10, 60),
                                         (3, 5, 5), (2, 1, 2), (130, 3, 48), (13, 2, 12)])
def test_feature_counts_and_windows(F, C, count):
    assert trees.tree_feature_count(F, C) == count == min(16, max(1, min(128, F) // C)) * C
    spans = trees.windows(F, C, count)
    assert spans == expected_windows(F, C, count)
    assert all(0 <= start < end <= F for start, end in spans)


def test_windows_by_hand():
    assert trees.windows(4, 1, 4) == [[0, 3], [1, 4], [2, 4], [3, 4]]
    assert trees.windows(64, 10, 60) == [[0, 11], [11, 22], [21, 32], [32, 43], [43, 54], [53, 64]]
    # stride 12.5: Python's round sends 12.5 to 12 and 37.5 to 38
    assert trees.windows(200, 1, 16)[:4] == [[0, 13], [12, 25], [25, 38], [38, 51]]
    assert trees.windows(2, 1, 2) == [[0, 2], [1, 2]]


def test_given_tree_inputs():
    assert trees.tree_feature_count(20, 3, 12) == 12
    assert trees.tree_feature_count(20, 3, 10) == 9  # whole windows of C columns
    assert trees.tree_feature_count(20, 3, 2) == 3
    assert trees.tree_feature_count(20, 3, 0) == trees.tree_feature_count(20, 3) == 18


def test_shapes_and_row_splits(digits, digits_embedding):
    X, y = digits
    e = digits_embedding
    assert e.features.dtype == np.float32 and e.features.shape == (len(X), 60)
    assert e.windows == trees.windows(64, 10, 60)
    assert len(e.trees_json) == 6 and all(len(forest) == 8 for _, forest in e.trees_json)
    assert [span for span, _ in e.trees_json] == e.windows
    parts = np.concatenate([e.half1, e.half2, e.heldout])
    assert sorted(parts) == list(range(len(X)))
    assert len(e.half1) + len(e.half2) == round(0.5 * len(X))
    assert abs(len(e.half1) - len(e.half2)) <= 1
    # stratified: each class's share of the train rows is about half its rows
    for c in range(10):
        assert abs(np.sum(y[e.half1] == c) - np.sum(y == c) / 4) <= 1.5
    assert list(e.classes) == list(range(10))


def test_row_limits(digits):
    X, y = digits
    X, y = np.tile(X, (3, 1)), np.tile(y, 3)
    e = trees.learn_tree_embedding(X[:, :20], y, "categorical", 10, SEED)
    assert len(e.half1) == len(e.half2) == 1024 and len(e.heldout) == len(X) - 2048


def test_deterministic(digits, diabetes, digits_embedding, diabetes_embedding):
    X, y = digits
    again = trees.learn_tree_embedding(X, y, "categorical", 10, SEED)
    assert np.array_equal(again.features, digits_embedding.features)
    assert json.dumps(again.trees_json) == json.dumps(digits_embedding.trees_json)
    other = trees.learn_tree_embedding(X, y, "categorical", 10, SEED + 1)
    assert not np.array_equal(other.features, digits_embedding.features)
    X, y = diabetes
    again = trees.learn_tree_embedding(X, (y - y.mean()) / y.std(), "numeric", 1, SEED)
    assert np.array_equal(again.features, diabetes_embedding.features)


def direct_forest(categorical, X, y):
    if categorical:
        return RandomForestClassifier(n_estimators=8, min_samples_leaf=16, class_weight="balanced",
                                      random_state=SEED).fit(X, y)
    return RandomForestRegressor(n_estimators=8, min_samples_leaf=16, random_state=SEED).fit(X, y)


def direct_outputs(forest, X, C):
    if isinstance(forest, RandomForestClassifier):
        out = np.zeros((len(X), C))
        out[:, forest.classes_] = forest.predict_proba(X)
        return out
    return forest.predict(X)[:, None]


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_cross_fitting_against_scikit_learn(name, request):
    X, y = request.getfixturevalue(name)
    e = request.getfixturevalue(name + "_embedding")
    categorical = name == "digits"
    C = 10 if categorical else 1
    if not categorical:
        y = (y - y.mean()) / y.std()
    for w, (start, end) in enumerate(e.windows):
        part = X[:, start:end]
        forest1 = direct_forest(categorical, part[e.half1], y[e.half1])
        forest2 = direct_forest(categorical, part[e.half2], y[e.half2])
        got = e.features[:, w * C:(w + 1) * C]
        # a half's rows get the OTHER half's forest
        np.testing.assert_allclose(got[e.half1], direct_outputs(forest2, part[e.half1], C), atol=1e-6)
        np.testing.assert_allclose(got[e.half2], direct_outputs(forest1, part[e.half2], C), atol=1e-6)
        assert not np.allclose(got[e.half1], direct_outputs(forest1, part[e.half1], C), atol=1e-3)
        # heldout: the first 4 trees of forest 1 and the last 4 of forest 2
        combined = [t for t in forest1.estimators_[:4] + forest2.estimators_[4:]]
        if categorical:
            expected = np.mean([t.predict_proba(part[e.heldout]) for t in combined], axis=0)
        else:
            expected = np.mean([t.predict(part[e.heldout]) for t in combined], axis=0)[:, None]
        np.testing.assert_allclose(got[e.heldout], expected, atol=1e-6)
        stored = trees.forest_outputs(e.forests[w], part[e.heldout], C)
        np.testing.assert_allclose(got[e.heldout], stored, atol=1e-6)


def leaves(node):
    if node[1] is None:
        yield node[0]
    else:
        yield from leaves(node[2])
        yield from leaves(node[3])


def nodes(node):
    if node[1] is not None:
        yield node
        yield from nodes(node[2])
        yield from nodes(node[3])


def test_tree_json(digits_embedding, diabetes_embedding):
    text = json.dumps(digits_embedding.trees_json, allow_nan=False)
    for (start, end), forest in json.loads(text):
        for tree in forest:
            for leaf in leaves(tree):
                assert len(leaf) == 10 and abs(sum(leaf) - 1) < 1e-9 and min(leaf) >= 0
            for node in nodes(tree):
                assert len(node) == 4 and 0 <= node[0] < end - start
                assert float(np.float32(node[1])) == node[1]
    for _, forest in diabetes_embedding.trees_json:
        assert any(len(list(nodes(tree))) > 0 for tree in forest)
        assert all(len(leaf) == 1 for tree in forest for leaf in leaves(tree))


def test_float32_threshold():
    for value in np.random.default_rng(0).normal(size=200):
        low = trees.float32_at_most(value)
        assert low <= value and np.nextafter(np.float32(low), np.float32(np.inf)) > value


def test_class_missing_from_the_forests(digits):
    X, y = digits
    keep = np.flatnonzero(y != 9)[:900]
    rows = np.concatenate([keep, np.flatnonzero(y == 9)[:1]])
    e = trees.learn_tree_embedding(X[rows], y[rows], "categorical", 10, SEED)
    assert list(e.classes) == list(range(9))
    assert e.features.shape == (len(rows), 60)
    ninth = e.features[:, 9::10]
    assert np.all(ninth == 0)
    np.testing.assert_allclose(e.features.reshape(len(rows), 6, 10).sum(axis=2), 1, atol=1e-5)
    for _, forest in e.trees_json:
        for tree in forest:
            assert all(len(leaf) == 10 and leaf[9] == 0 for leaf in leaves(tree))
    importances = trees.tree_importances(e, range(64))
    assert len(importances) == 60 and all(entry == {} for entry in importances[9::10])


def test_too_few_rows():
    with pytest.raises(ValueError, match="too few rows"):
        trees.learn_tree_embedding(np.zeros((3, 4)), [0, 1, 2], "categorical", 3, 0)


def check_importances(importances, e, column_fields):
    assert len(importances) == e.features.shape[1]
    C = e.n_classes
    for k, entry in enumerate(importances):
        start, end = e.windows[k // C]
        assert set(entry) <= {str(column_fields[j]) for j in range(start, end)}
        if entry:
            assert abs(sum(entry.values()) - 1) < 1e-9 and min(entry.values()) >= 0


def test_tree_importances(digits_embedding, diabetes_embedding):
    fields = [j // 4 for j in range(64)]  # 16 fields of 4 columns, like one-hot categoricals
    importances = trees.tree_importances(digits_embedding, fields)
    check_importances(importances, digits_embedding, fields)
    assert sum(1 for entry in importances if entry) >= 50
    assert trees.tree_importances(digits_embedding, fields) == importances
    importances = trees.tree_importances(diabetes_embedding, range(10))
    check_importances(importances, diabetes_embedding, list(range(10)))
    assert all(importances)


# ---------------------------------------------------------------------------------------------
# sensenet computes the stored forests


def sensenet_document(e, F, categorical):
    """A deepnet with only numeric inputs (mean 0, stdev 1: the cached values as they are),
    the embedding's trees, and a dense readout copying the tree columns."""
    T = e.features.shape[1]
    weights = np.zeros((T + F, T))
    weights[np.arange(T), np.arange(T)] = 1.0
    return {"preprocess": [{"type": "numeric", "index": j, "mean": 0.0, "stdev": 1.0} for j in range(F)],
            "output_exposition": {"type": "numeric", "mean": 0.0, "stdev": 1.0},
            "trees": json.loads(json.dumps(e.trees_json)), "image_network": None,
            "layers": [{"type": "dense", "weights": weights.tolist(), "offset": [0.0] * T,
                        "activation_function": "identity"}]}


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_sensenet_tree_op_matches_the_stored_forests(name, request):
    from pyramid.importers import tf
    import sensenet.importers
    from sensenet.layers.tree import ForestPreprocessor
    from sensenet.models.deepnet import deepnet_model

    assert sensenet.importers.bigml_tf_module is not None, "sensenet's BigMLTreeify op did not load"
    X, _ = request.getfixturevalue(name)
    e = request.getfixturevalue(name + "_embedding")
    C = e.n_classes
    expected = np.concatenate([trees.forest_outputs(forest, X[:, start:end], C)
                               for (start, end), forest in zip(e.windows, e.forests)], axis=1)
    layer = ForestPreprocessor(json.loads(json.dumps(e.trees_json)))(tf.constant(X)).numpy()
    np.testing.assert_allclose(layer[:, expected.shape[1]:], X)
    assert np.max(np.abs(layer[:, :expected.shape[1]] - expected)) < 1e-5
    model = deepnet_model(sensenet_document(e, X.shape[1], C > 1), None)
    predicted = model.predict(X, verbose=0)
    assert np.max(np.abs(predicted - expected)) < 1e-5
    # the heldout rows' cached tree columns are what sensenet computes
    assert np.max(np.abs(predicted[e.heldout] - e.features[e.heldout])) < 1e-5


def test_sensenet_agrees_where_float32_rounding_would_not():
    """Values one float32 step apart: the midpoint scikit-learn splits at rounds (to nearest)
    onto the upper value, which sensenet would then send left; the written threshold does not."""
    from pyramid.importers import tf
    from sensenet.layers.tree import ForestPreprocessor

    # (scikit-learn treats steps below 1e-7 as constant: one float32 step above 1024 is 1.2e-4)
    low = np.nextafter(np.float32(1024.0), np.float32(2048.0))
    high = np.nextafter(low, np.float32(2048.0))
    assert np.float32((np.float64(low) + np.float64(high)) / 2) == high
    X = np.repeat([[low], [high]], 200, axis=0).astype(np.float32)
    y = np.repeat([0.0, 1.0], 200)
    e = trees.learn_tree_embedding(X, y, "numeric", 1, SEED)
    expected = trees.forest_outputs(e.forests[0], X, 1)
    np.testing.assert_array_equal(np.unique(expected), [0.0, 1.0])
    got = ForestPreprocessor(json.loads(json.dumps(e.trees_json)))(tf.constant(X)).numpy()[:, :1]
    np.testing.assert_allclose(got, expected, atol=1e-6)
