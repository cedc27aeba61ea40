"""dataset_caching: the backend's `.ser` rows as the float32 matrices dense training reads.

Each row becomes `[tree features..., inputs..., weight?, objective...]` (worker-jobs.md 4):
- numeric inputs as stored (the backend standardised them with `info_list`'s mean and
  stdev, as sensenet does at prediction time);
- categoricals one-hot over `values`, all zeros when missing (negative);
- each image column projected through the image network image_training left in
  `submodel_<base_image_network>_<image_training_type>/` (its own stored network, whatever the
  document's `layers` say), read in batches by pyramid's reader: the features sensenet
  computes for that file;
- the weight column with `instance_weights`; the objective one-hot (categorical) or as stored;
- with `tree_embedding` or `is_search`, the tree features first (`pyramid.worker.trees`).

Files under output_directory (created when missing): `full_dataset.npy`,
`evaluation_dataset.npy` (every row below 4096, else a stratified 4096), `importance_dataset.npy`
(shapsplain's representatives of the inputs, plus a class index or value column), with trees
`trees.json` and `tree_importances.json`, and when the data are larger than
min(max_data_size / parallelism, 512e6) bytes, `data_subset_0..7.npy`: drawn after the tree
columns are added, never more rows than the data.
"""

import os

import numpy as np

from pyramid.data.datasets import evaluation_dataset, image_source
from pyramid.data.holdout import split_holdout
from pyramid.errors import InputError
from pyramid.importers import keras, tf
from pyramid.worker import cache, outputs
from pyramid.worker.settings import model_id

FULL = "full_dataset.npy"
EVALUATION = "evaluation_dataset.npy"
IMPORTANCE = "importance_dataset.npy"
SUBSET = "data_subset_%d.npy"
TREES = "trees.json"
TREE_IMPORTANCES = "tree_importances.json"
EVALUATION_ROWS = 4096
REPRESENTATIVES = 128
SUBSETS = 8
LARGEST_FILE = 512e6  # bytes: the full dataset and the subsets' cap, as before
BATCH = 256
PROGRESS_EVERY = 100
CACHING_SHARE = 0.9  # of the job's progress: the rest is writing


def run(settings, document, report):
    schema = cache.Schema(settings.info_list, settings.instance_weights)
    rows = cache.read_ser(settings.cache_file, schema, settings.cache_rows)
    projector = ImageProjector(settings) if schema.image_positions else None
    widths = schema.input_widths(projector.width if projector else None)
    with_trees = bool(settings.tree_embedding or settings.is_search)
    kept = sample_rows(len(rows), row_bytes(schema, widths, with_trees, settings), settings)

    inputs, weights, objective = encode(schema, rows, kept, projector, RowProgress(report, len(kept)))
    tree_count = 0
    if with_trees:
        inputs, tree_count = add_trees(settings, schema, inputs, objective, widths)
    data = np.concatenate([inputs] + ([weights[:, None]] if weights is not None else []) + [objective], axis=1)
    os.makedirs(settings.output_directory, exist_ok=True)
    paths = write_datasets(settings, schema, data, inputs, objective, tree_count)
    return {
        "datasets": paths,
        "full_data_size": int(data.nbytes),
        "full_data_shape": list(data.shape),
        "row_size": int(data.shape[1] * 4),
        "tree_inputs": tree_count,
    }


class ImageProjector:
    """The image features of files, from the image model of the workflow's image_training."""

    def __init__(self, settings):
        directory = os.path.join(settings.output_directory, "submodel_" + model_id(settings))
        built = outputs.load_image_network(directory)
        metadata = built.document["image_network"]["metadata"]
        self.width = metadata["outputs"]
        self.shape_hw = tuple(metadata["input_image_shape"][1::-1])
        self.rescale_type = metadata.get("rescale_type", "warp")
        model = keras.Model(built.keras_model.input, built.image_layers[-1].output)
        # One traced function for every batch: called eagerly, the network took twice as long.
        self.forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
        self.image_root = settings.image_root

    def features(self, files, progress):
        """float32 [len(files), width], reporting the rows done to `progress`."""
        paths = [os.path.join(self.image_root, file) for file in files]
        images = image_source(paths, self.shape_hw, self.rescale_type, max_data_size=0)
        blocks = []
        for batch in evaluation_dataset(images, np.arange(len(paths)), BATCH):
            try:
                blocks.append(self.forward(batch).numpy())
            except tf.errors.InvalidArgumentError:
                images.raise_unreadable()
                raise
            progress.done(sum(len(block) for block in blocks))
        return np.concatenate(blocks).astype(np.float32) if blocks else np.zeros((0, self.width), np.float32)


def row_bytes(schema, widths, with_trees, settings):
    """float32 bytes of one cached row, tree features included when there will be some."""
    from pyramid.worker import trees

    width = sum(widths) + (1 if schema.instance_weights else 0) + schema.objective_width
    if with_trees:
        width += trees.tree_feature_count(sum(widths), schema.objective_width, settings.tree_inputs)
    return 4 * width


def sample_rows(count, bytes_per_row, settings):
    """The rows to cache: all of them, or, when they would take max_data_size bytes or more,
    floor(max_data_size / bytes) of them drawn with the seed (in file order)."""
    if bytes_per_row * count < settings.max_data_size:
        return np.arange(count)
    keep = max(1, int(settings.max_data_size // bytes_per_row))
    rng = np.random.default_rng(settings.seed)
    return np.sort(rng.choice(count, size=min(keep, count), replace=False))


def encode(schema, rows, kept, projector, progress):
    """(inputs float32 [n, expanded], weights float32 [n] or None, objective float32 [n, C])."""
    blocks = []
    for position, (entry, column) in enumerate(zip(schema.inputs, rows.inputs)):
        if entry["type"] == cache.IMAGE:
            files = [column[row] for row in kept]
            blocks.append(projector.features(files, progress))
        elif entry["type"] == cache.CATEGORICAL:
            blocks.append(one_hot(column[kept], len(entry["values"])))
        else:
            blocks.append(column[kept].astype(np.float32)[:, None])
    progress.done(len(kept))
    inputs = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(kept), 0), np.float32)
    weights = np.abs(rows.weights[kept]).astype(np.float32) if rows.weights is not None else None
    target = rows.objective[kept]
    if schema.objective["type"] == cache.CATEGORICAL:
        if np.any(target < 0):
            raise InputError("cache_file: %d rows have no objective value (a negative class index); the "
                             "backend leaves such rows out" % int(np.sum(target < 0)))
        objective = one_hot(target, len(schema.objective["values"]))
    else:
        objective = target.astype(np.float32)[:, None]
    return inputs, weights, objective


def one_hot(indices, width):
    """float32 one-hot rows; a negative index (missing) gives all zeros."""
    matrix = np.zeros((len(indices), width), np.float32)
    present = indices >= 0
    matrix[np.flatnonzero(present), indices[present].astype(int)] = 1.0
    return matrix


class RowProgress:
    """Caching's progress lines: rows 1, 101, 201, ... and the last, at 0.9 * (row - 1) / n
    (the rest of the job is writing)."""

    def __init__(self, report, total):
        self.report = report
        self.total = total
        self.milestones = list(range(1, total, PROGRESS_EVERY)) + [total]

    def done(self, rows):
        while self.milestones and self.milestones[0] <= rows:
            row = self.milestones.pop(0)
            self.send(row, CACHING_SHARE * ((row - 1) / self.total if row < self.total else 1.0))

    def send(self, row, progress):
        self.report.send({"total_rows_to_cache": self.total, "row_number": row}, progress)


def add_trees(settings, schema, inputs, objective, widths):
    """Tree features learnt on the cached rows, prepended; trees.json and
    tree_importances.json written. Returns (inputs with trees, number of tree features)."""
    from pyramid.worker import trees

    classes = schema.objective_width
    target = objective.argmax(axis=1) if schema.objective["type"] == cache.CATEGORICAL else objective[:, 0]
    embedding = trees.learn_tree_embedding(inputs, target, schema.objective["type"], classes, settings.seed,
                                           settings.tree_inputs)
    fields = np.repeat(np.arange(len(widths)), widths)
    importances = trees.tree_importances(embedding, fields)
    outputs.write_json(os.path.join(settings.output_directory, TREES), embedding.trees_json)
    outputs.write_json(os.path.join(settings.output_directory, TREE_IMPORTANCES), importances)
    features = embedding.features.astype(np.float32)
    return np.concatenate([features, inputs], axis=1), features.shape[1]


def write_datasets(settings, schema, data, inputs, objective, tree_count):
    """Every .npy file of the job; returns the `datasets` paths (full dataset first)."""
    directory = settings.output_directory
    categorical = schema.objective["type"] == cache.CATEGORICAL
    labels = objective.argmax(axis=1) if categorical else objective[:, 0]
    strata = labels if categorical else np.zeros(len(labels), int)

    save(os.path.join(directory, EVALUATION), data[evaluation_rows(strata, settings.seed)])
    save(os.path.join(directory, IMPORTANCE), importance_set(inputs, objective, settings, tree_count))
    full = data
    if data.nbytes > LARGEST_FILE:
        rng = np.random.default_rng(settings.seed)
        full = data[np.sort(rng.choice(len(data), int(LARGEST_FILE // (data.shape[1] * 4)), replace=False))]
    paths = [save(os.path.join(directory, FULL), full)]
    limit = min(settings.max_data_size / (settings.parallelism or 1), LARGEST_FILE)
    if data.nbytes > limit:
        size = min(len(data), max(1, int(limit // (data.shape[1] * 4))))
        for index in range(SUBSETS):
            rng = np.random.default_rng(index)
            rows = np.sort(rng.choice(len(data), size, replace=False))
            paths.append(save(os.path.join(directory, SUBSET % index), data[rows]))
    return paths


def evaluation_rows(strata, seed):
    """Every row below EVALUATION_ROWS, else a stratified EVALUATION_ROWS of them."""
    if len(strata) <= EVALUATION_ROWS:
        return np.arange(len(strata))
    _, rows = split_holdout(strata, EVALUATION_ROWS, seed, rate=1.0)
    return rows


def importance_set(inputs, objective, settings, tree_count):
    """shapsplain's representatives of the rows (at most 128: clusters, anomalies and random
    rows per class, balanced over the classes with `balance_objective`): the inputs and a
    class-index (or value) column; float64 with tree columns, float32 otherwise, as before."""
    from shapsplain.represent import representatives

    matrix = representatives(inputs, objective, REPRESENTATIVES, bool(settings.balance_objective), settings.seed)
    return matrix.astype(np.float64 if tree_count else np.float32)


def save(path, array):
    outputs.write_file(path, lambda temporary: np.save(temporary, array))
    return path
