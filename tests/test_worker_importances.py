"""Shapley importances per original input field (pyramid.worker.importances): small tf-keras
networks trained on synthetic tables where only some fields drive the label, networks with set
weights where the answer is known (a tree column, the classes explained), and the aggregation
rules (one-hot sub-columns, tree shares, non-finite values, equal shares)."""

import math

import numpy as np
import pytest

import pyramid.importers  # noqa: F401  (tf-keras before shapsplain)
from pyramid.importers import keras, tf
from pyramid.worker import importances

ROWS, REFERENCE = 1200, 128

# Fields: 0 numeric (drives), 1 categorical with 3 values (drives), 2 numeric noise,
# 3 numeric noise, 4 categorical with 2 values noise. Expanded: 1 + 3 + 1 + 1 + 2 = 8 columns.
COLUMN_FIELDS = [0, 1, 1, 1, 2, 3, 4, 4]


def synthetic_table(seed=0):
    rng = np.random.default_rng(seed)
    x0, x2, x3 = rng.normal(size=(3, ROWS))
    category, noise_category = rng.integers(0, 3, ROWS), rng.integers(0, 2, ROWS)
    X = np.column_stack([x0, np.eye(3)[category], x2, x3, np.eye(2)[noise_category]]).astype(np.float32)
    label = (category + (x0 > 0)) % 3
    value = 2.0 * x0 - 1.5 * (category == 2)
    return X, label, (value - value.mean()) / value.std()


def dense_model(inputs, outputs, seed):
    tf.keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    hidden = keras.layers.Dense(24, activation="relu")(x)
    activation = "softmax" if outputs > 1 else None
    return keras.Model(x, keras.layers.Dense(outputs, activation=activation)(hidden))


def train(model, X, y, loss, steps=300, batch=64):
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    data = tf.data.Dataset.from_tensor_slices((X, y)).shuffle(len(X), seed=0).repeat().batch(batch)
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def table():
    return synthetic_table()


@pytest.fixture(scope="module")
def classifier(table):
    X, label, _ = table
    model = train(dense_model(X.shape[1], 3, 1), X, label, "sparse_categorical_crossentropy")
    accuracy = np.mean(np.argmax(model.predict(X, verbose=0), axis=1) == label)
    assert accuracy > 0.9
    return model


@pytest.fixture(scope="module")
def classifier_importances(table, classifier):
    X, _, _ = table
    return importances.field_importances(classifier, X[:REFERENCE], COLUMN_FIELDS)


def fixed_model(kernel, bias, softmax=True):
    """One dense layer with the given weights (no training)."""
    kernel = np.asarray(kernel, np.float32)
    x = keras.Input((kernel.shape[0],))
    layer = keras.layers.Dense(kernel.shape[1], activation="softmax" if softmax else None)
    model = keras.Model(x, layer(x))
    layer.set_weights([kernel, np.asarray(bias, np.float32)])
    return model


def test_driving_fields_get_most_of_the_importance(classifier_importances):
    shares = classifier_importances
    assert len(shares) == 5
    assert math.isclose(sum(shares), 1.0, abs_tol=1e-9)
    assert all(s >= 0 for s in shares)
    assert shares[0] + shares[1] > 0.75
    assert min(shares[0], shares[1]) > max(shares[2], shares[3], shares[4])


def test_one_hot_sub_columns_add_up_to_their_field(table, classifier, classifier_importances):
    X, _, _ = table
    labels = importances.field_map(COLUMN_FIELDS)
    assert labels == [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (3, 0), (4, 0), (4, 1)]
    columns = importances.column_importances(classifier, X[:REFERENCE], labels)
    assert math.isclose(columns.sum(), 1.0, rel_tol=1e-5)
    for field in range(5):
        mine = [j for j, f in enumerate(COLUMN_FIELDS) if f == field]
        assert classifier_importances[field] == pytest.approx(columns[mine].sum() / columns.sum(), abs=1e-9)


def test_deterministic(table, classifier, classifier_importances):
    X, _, _ = table
    assert importances.field_importances(classifier, X[:REFERENCE], COLUMN_FIELDS) == classifier_importances
    # float64 rows (importance_dataset.npy with tree columns) give the same answer
    assert importances.field_importances(classifier, X[:REFERENCE].astype(np.float64), COLUMN_FIELDS) == \
        classifier_importances


def test_regression_output(table):
    X, _, value = table
    model = train(dense_model(X.shape[1], 1, 2), X, value[:, None].astype(np.float32), "mse", steps=200)
    shares = importances.field_importances(model, X[:REFERENCE], COLUMN_FIELDS)
    assert math.isclose(sum(shares), 1.0, abs_tol=1e-9)
    assert shares[0] > max(0.4, shares[1])
    assert shares[0] + shares[1] > 0.75
    assert shares[1] > max(shares[2], shares[3], shares[4])


def test_tree_feature_is_spread_by_its_shares():
    # 2 tree columns, then fields 0 (numeric), 1 (one-hot of 2), 2 (numeric). The network only
    # looks at tree column 0, so all the importance is that column's, spread 1:3 over fields 0, 2.
    rng = np.random.default_rng(3)
    rows = rng.uniform(-1, 1, size=(40, 6))
    kernel = np.zeros((6, 2))
    kernel[0] = [2.0, -2.0]
    model = fixed_model(kernel, [0.0, 0.0])
    tree_shares = [{"0": 0.2, "2": 0.6}, {"1": 1.0}]
    labels = importances.field_map([0, 1, 1, 2], 2)
    assert labels[:2] == [(-1, 0), (-1, 1)]
    columns = importances.column_importances(model, rows, labels)
    assert columns[0] == pytest.approx(1.0) and np.all(columns[1:] == 0)
    shares = importances.field_importances(model, rows, [0, 1, 1, 2], tree_shares, n_tree_columns=2)
    assert shares == pytest.approx([0.25, 0.0, 0.75], abs=1e-9)
    # n_tree_columns inferred from the rows' width
    assert importances.field_importances(model, rows, [0, 1, 1, 2], tree_shares) == shares


def test_two_most_likely_classes_are_explained():
    # Classes 0 and 1 (always the two most likely) move with field 0 only, the unlikely classes
    # 2 and 3 with field 1 only. Explaining the top two puts the importance on field 0;
    # shapsplain 0.3.0 as is (argsort ascending: the two least likely) would put it on field 1.
    rng = np.random.default_rng(4)
    rows = rng.uniform(-1, 1, size=(48, 2)).astype(np.float32)
    model = fixed_model([[0.2, -0.2, 0.0, 0.0], [0.0, 0.0, 2.0, -2.0]], [4.0, 4.0, -4.0, -4.0])
    labels = importances.field_map([0, 1])
    explainer = importances.explainer_for(model, rows, labels)
    assert np.all(np.sort(explainer._data_classes, axis=1) == [0, 1])
    shares = importances.field_importances(model, rows, [0, 1])
    assert shares[0] > 0.9

    from shapsplain.gradient import GradientExplainer

    fields = {label: {"index": j} for j, label in enumerate(labels)}
    as_is = dict((tuple(k), v) for k, v in GradientExplainer(model, rows, fields).shap_importances())
    assert as_is[(1, 0)] > 0.9


def test_one_field_is_all_the_importance():
    assert importances.field_importances(None, np.zeros((4, 1)), [0]) == [1.0]
    # one categorical field, however many one-hot columns, and tree columns besides
    assert importances.field_importances(None, np.zeros((4, 5)), [0, 0, 0], [{"0": 1.0}] * 2) == [1.0]
    assert importances.field_importances(None, np.zeros((4, 0)), []) == [1.0]


def test_aggregation_skips_non_finite_values_and_shares():
    shares = importances.aggregate(
        [0.5, float("nan"), 0.1, float("inf"), 0.2, 0.2],
        column_fields=[0, 1, 1, 2], n_tree_columns=2, n_fields=3,
        tree_importances=[{"0": 0.5, "2": float("nan"), "1": 0.5}, {"2": 1.0}])
    # tree column 0 (NaN share skipped): 0.25 to fields 0 and 1; tree column 1 is NaN; inputs:
    # field 0 gets 0.1, field 1 gets 0.2 (its inf skipped), field 2 gets 0.2
    assert shares == pytest.approx([0.35, 0.45, 0.2])
    # a tree column with no usable share is dropped before normalising
    assert importances.aggregate([0.6, 0.2, 0.2], [0, 1], [{}], 1, 2) == pytest.approx([0.5, 0.5])
    assert importances.aggregate([0.6, 0.3, 0.1], [0, 1], [{"1": 0.0, "0": -1}], 1, 2) == pytest.approx([0.75, 0.25])


def test_nothing_usable_gives_equal_shares():
    assert importances.aggregate([float("nan")] * 3, [0, 1, 2], None, 0, 3) == [1 / 3] * 3
    assert importances.aggregate([0.0, 0.0], [0, 1], None, 0, 2) == [0.5, 0.5]
    # a network that outputs NaN
    model = fixed_model(np.full((3, 2), np.nan), [0.0, 0.0])
    rows = np.random.default_rng(5).normal(size=(16, 3))
    assert importances.field_importances(model, rows, [0, 1, 2]) == [1 / 3] * 3
    # a network that ignores its inputs
    model = fixed_model(np.zeros((3, 2)), [1.0, 0.0])
    assert importances.field_importances(model, rows, [0, 1, 2]) == [1 / 3] * 3


def test_mismatched_inputs_are_errors():
    rows = np.zeros((4, 3))
    with pytest.raises(ValueError, match="without importance_dataset.npy's last"):
        importances.field_importances(None, rows, [0, 1], n_tree_columns=0)
    with pytest.raises(ValueError, match="columns"):
        importances.field_importances(None, rows, [0, 1, 1, 2])
    with pytest.raises(ValueError, match="tree_importances"):
        importances.aggregate([0.5, 0.25, 0.25], [0, 1], None, 1, 2)
    with pytest.raises(ValueError, match="not one of the 2 input fields"):
        importances.aggregate([0.5, 0.25, 0.25], [0, 1], [{"7": 1.0}], 1, 2)
