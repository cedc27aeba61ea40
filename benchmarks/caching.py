"""dataset_caching and a search submodel at 10,000 rows: rows/s, and where the caching time goes.

Issue 10 item 7. The real `pyramid` process runs one workflow's jobs in turn:
image_training (`simple`, a fixed number of iterations), dataset_caching with `is_search`
(so the tree embedding is learnt), then one search_submodel (a dense network on the cached
rows, trees included). The rows: one image column at 32x32 (real-photo JPEG crops of 300-500
px from benchmarks/make_images.py; `--images` distinct files reused across the rows at
random, 1,000 by default: every row's file is still read and decoded, only fewer files are
written), 14 numeric columns (standardised, as the backend stores them) and 6 categorical
ones of 3-10 values (about 10% missing), and a 4-class objective (quartiles of a score of
some numeric and categorical columns and of the image's orientation, plus noise).

The worker's progress lines (`logging_level` 2) are timed as they arrive and its files'
mtimes read, which splits the caching job into: until the first image batch is done (reading
the `.ser`, loading the image model, every image header), the image projection (first to last
batch), the trees (learn_tree_embedding and tree_importances), each .npy file (the importance
set's shapsplain representatives). The same run then measures, in this process once the worker
has ended, the machine's own limits on the same rows (the fastest of `--repeat` runs): the bare
image projection (`image_source` + `evaluation_dataset` + the trained network's forward pass,
called eagerly per batch, and in a `tf.function` as the worker does; also without the network,
to show decoding alone), the tree embedding alone (`learn_tree_embedding`,
then `tree_importances`: its first call in a process compiles shapsplain's numba TreeSHAP, as
the worker's first caching job with trees does, and warm), reading the `.ser`, the importance
set and saving the full dataset.

    python benchmarks/caching.py                      # 10,000 rows, about 2 minutes on 2 cores
    python benchmarks/caching.py --rows 2000 --images 200 --iterations 20 --search-iterations 100
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pyramid.worker.cache import Rows, Schema, read_ser, write_ser  # noqa: E402

NUMERIC_COLUMNS = 14
CATEGORY_SIZES = (3, 4, 5, 6, 8, 10)  # 6 categorical columns
MISSING_RATE = 0.1
CLASSES = ["q1", "q2", "q3", "q4"]
ORIENTATIONS = {"portrait": -0.8, "square": 0.0, "landscape": 0.8}
SEED = 7


# The workflow -------------------------------------------------------------------------------


def make_rows(directory, rows, images, size):
    """The `.ser` cache, its info_list and the image_root: see the module docstring."""
    image_root = os.path.join(directory, "images")
    started = time.monotonic()
    subprocess.run([sys.executable, os.path.join(HERE, "make_images.py"), "--output", image_root,
                    "--count", str(images)], check=True, stdout=subprocess.DEVNULL)
    print("wrote %d images in %.1f s" % (images, time.monotonic() - started), flush=True)
    with open(os.path.join(image_root, "training_data.json")) as stream:
        points = json.load(stream)

    rng = np.random.default_rng(SEED)
    picked = rng.integers(0, len(points), rows)
    files = [points[i]["file"] for i in picked]
    orientation = np.array([ORIENTATIONS[points[i]["label"].rsplit("-", 1)[1]] for i in picked])
    numbers = rng.normal(size=(rows, NUMERIC_COLUMNS))
    numbers[:, 1] += 0.5 * numbers[:, 0]  # a little correlation
    categories = []
    for count in CATEGORY_SIZES:
        values = rng.integers(0, count, rows).astype(np.float64)
        values[rng.random(rows) < MISSING_RATE] = -1.0
        categories.append(values)
    effects = [rng.normal(scale=0.7, size=count) for count in CATEGORY_SIZES[:2]]
    score = (numbers[:, 0] - 0.8 * numbers[:, 2] + 0.5 * numbers[:, 3] * numbers[:, 4] + orientation
             + sum(np.where(values >= 0, effect[values.astype(int)], 0.0)
                   for values, effect in zip(categories, effects))
             + rng.normal(scale=0.5, size=rows))
    objective = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75])).astype(np.float64)

    info_list = [{"index": 0, "type": "image"}]
    for column in range(NUMERIC_COLUMNS):  # stored standardised; mean and stdev as BigML would give
        info_list.append({"index": 1 + column, "type": "numeric", "mean": 10.0 * column, "stdev": 1.0 + column})
    for column, count in enumerate(CATEGORY_SIZES):
        info_list.append({"index": 1 + NUMERIC_COLUMNS + column, "type": "categorical",
                          "values": ["c%d_v%d" % (column, value) for value in range(count)]})
    info_list.append({"index": 1 + NUMERIC_COLUMNS + len(CATEGORY_SIZES), "type": "categorical",
                      "values": CLASSES})
    cache_file = os.path.join(directory, "rows.ser")
    write_ser(cache_file, Schema(info_list), Rows([files] + list(numbers.T) + categories, None, objective))
    return cache_file, info_list, image_root


def dense_layers(hidden, classes):
    layers = [{"type": "dense", "number_of_nodes": hidden, "activation_function": "relu", "seed": index,
               "weights": "glorot_uniform", "offset": "zeros"} for index in range(2)]
    return layers + [{"type": "dense", "number_of_nodes": classes, "activation_function": "softmax", "seed": 2,
                      "weights": "glorot_uniform", "offset": "zeros"}]


def write_documents(directory, cache_file, info_list, image_root, rows, size, args):
    """{name: path} of the three job documents: one base document, as the backend keeps."""
    output = os.path.join(directory, "output")
    base = {
        "job_id": "caching-benchmark", "objective_type": "categorical", "info_list": info_list,
        "cache_file": cache_file, "cache_rows": rows, "image_root": image_root,
        "input_image_shape": [size, size, 3], "base_image_network": "simple",
        "image_training_type": "randomly_initialize",
        "layers": [{"type": "dense", "number_of_nodes": len(CLASSES), "activation_function": "softmax",
                    "weights": "glorot_uniform", "offset": "zeros", "seed": 0}],
        "max_data_size": 2**30, "parallelism": 2, "batch_size": 32, "learning_rate": 0.001,
        "descent_algorithm": "adam", "loss_function": "crossentropy", "output_directory": output,
        "seed": SEED, "max_iterations": args.iterations, "is_search": True, "tree_embedding": False,
        "logging_level": 2, "max_seconds_per_update": 1.0,
    }
    search = dict(base, job_type="search_submodel", job_id="search-1",
                  cache_file=os.path.join(output, "full_dataset.npy"), tree_embedding=True,
                  layers=dense_layers(args.hidden, len(CLASSES)), batch_size=args.batch,
                  max_iterations=args.search_iterations, activation_function="relu", balance_objective=False,
                  dropout_rate=0.0, largest_layer_size=args.hidden, learn_residuals=False, number_of_layers=2,
                  topology="plain", mixup_alpha=None)
    documents = {"image_training": dict(base, job_type="image_training"),
                 "dataset_caching": dict(base, job_type="dataset_caching"),
                 "search_submodel": search}
    paths = {}
    for name, document in documents.items():
        paths[name] = os.path.join(directory, "%s.json" % name)
        with open(paths[name], "w") as stream:
            json.dump(document, stream)
    return paths, documents


# The worker ---------------------------------------------------------------------------------


def run_worker(paths):
    """{job: (result, [(wall clock time it arrived, progress value)])}."""
    worker = subprocess.Popen([sys.executable, "-m", "pyramid.commands.worker", "600"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)))
    assert worker.stdout.readline().startswith("pyramid process ready")
    answers = {}
    for name, path in paths.items():
        worker.stdin.write(path + "\n")
        worker.stdin.flush()
        lines = []
        while True:
            line = worker.stdout.readline()
            if not line:
                raise SystemExit("the worker ended during %s" % name)
            kind, _, value = line.partition(" - ")
            if kind == "pyramid progress":
                lines.append((time.time(), json.loads(value)))
            elif kind == "pyramid job complete":
                result = json.loads(value)
                break
        if "error" in result:
            raise SystemExit("%s failed: %s" % (name, result["error"]))
        answers[name] = (result, lines)
        print("%s: %.1f s" % (name, result["job_time"]), flush=True)
    worker.stdin.write("terminate\n")
    worker.stdin.close()
    worker.wait(timeout=60)
    return answers


def caching_phases(answer, output):
    """[(step, seconds)] of the caching job in the worker: split at its first and last row
    progress lines (timed as they arrived) and at the times its files were written (mtimes),
    from its first line, `pyramid job beginning` (the worker clears the previous job's session
    after answering it, so the job line itself may wait)."""
    result, lines = answer
    began = lines[0][0]
    rows = [wall - began for wall, value in lines if "row_number" in value]
    written = [os.stat(os.path.join(output, name)).st_mtime - began for name in (
        "tree_importances.json", "evaluation_dataset.npy", "importance_dataset.npy", "full_dataset.npy")]
    return [
        ("before the first image batch is done (read .ser, load image model, every image header, batch 1)",
         rows[0]),
        ("image projection (first to last batch)", rows[-1] - rows[0]),
        ("trees (other columns, learn_tree_embedding, tree_importances, trees.json)", written[0] - rows[-1]),
        ("evaluation_dataset.npy (stratified 4096, saved)", written[1] - written[0]),
        ("importance_dataset.npy (shapsplain representatives, saved)", written[2] - written[1]),
        ("full_dataset.npy (saved)", written[3] - written[2]),
        ("to the job's end", result["job_time"] - written[3]),
    ]


def training_phases(lines, job_time):
    """(until fitting starts, fitting, after it) in seconds, from the message lines."""
    began = lines[0][0]
    fit_start = next(wall for wall, value in lines if value.get("message", "").startswith("Fitting with"))
    fit_end = next(wall for wall, value in lines
                   if "message" in value and wall > fit_start and not value["message"].startswith("Fitting"))
    return fit_start - began, fit_end - fit_start, job_time - (fit_end - began)


# The machine's own limits, in this process ------------------------------------------------------


def timed(function, *arguments, **keywords):
    started = time.monotonic()
    value = function(*arguments, **keywords)
    return value, time.monotonic() - started


def fastest(repeat, function, *arguments):
    """(the last value, the shortest of `repeat` timings): the machine is shared."""
    runs = [timed(function, *arguments) for _ in range(repeat)]
    return runs[-1][0], min(seconds for _, seconds in runs)


def bare_steps(documents, answers, repeat):
    """{step: seconds} of the caching job's parts run alone on the same rows, each the fastest
    of `repeat` runs (but TreeSHAP's first call, which compiles shapsplain's numba code)."""
    from pyramid.data.datasets import evaluation_dataset, image_source
    from pyramid.importers import keras, tf
    from pyramid.worker import dataset_caching, trees
    from pyramid.worker.outputs import load_image_network
    from pyramid.worker.settings import validate_document

    document = documents["dataset_caching"]
    settings = validate_document(document)
    schema = Schema(document["info_list"])
    times = {}
    rows, times["read .ser"] = fastest(repeat, read_ser, document["cache_file"], schema, document["cache_rows"])

    directory = os.path.join(document["output_directory"], "submodel_simple_randomly_initialize")
    built, times["load image network"] = timed(load_image_network, directory)
    metadata = built.document["image_network"]["metadata"]
    model = keras.Model(built.keras_model.input, built.image_layers[-1].output)  # as ImageProjector
    shape_hw = tuple(metadata["input_image_shape"][1::-1])
    rescale_type = metadata.get("rescale_type", "warp")
    paths = [os.path.join(document["image_root"], file) for file in rows.inputs[0]]
    order = np.arange(len(paths))
    model(np.zeros((1,) + shape_hw + (3,), np.float32), training=False)  # built before timing
    graph = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)

    warm = paths[:256]  # TensorFlow's first run in this process, untimed
    for batch in evaluation_dataset(image_source(warm, shape_hw, rescale_type, 0), np.arange(len(warm)),
                                    dataset_caching.BATCH):
        model(batch, training=False)
        graph(batch)
    images, times["image headers"] = fastest(repeat, image_source, paths, shape_hw, rescale_type, 0)

    def decode_only():
        return sum(len(batch) for batch in evaluation_dataset(images, order, dataset_caching.BATCH))

    def project(forward):
        return np.concatenate([forward(batch).numpy()
                               for batch in evaluation_dataset(images, order, dataset_caching.BATCH)])

    _, times["decode + rescale"] = fastest(repeat, decode_only)
    features, times["projection"] = fastest(repeat, project, lambda batch: model(batch, training=False))
    compiled, times["projection, tf.function"] = fastest(repeat, project, graph)

    full = np.load(answers["dataset_caching"][0]["datasets"][0])
    tree_count = answers["dataset_caching"][0]["tree_inputs"]
    inputs, objective = full[:, tree_count:-len(CLASSES)], full[:, -len(CLASSES):]
    assert np.allclose(inputs[:, :features.shape[1]], features, atol=1e-5), "the bare projection differs"
    times["tf.function difference"] = float(np.abs(compiled - features).max())
    embedding, times["learn_tree_embedding"] = fastest(repeat, trees.learn_tree_embedding, inputs,
                                                       objective.argmax(axis=1), "categorical", len(CLASSES),
                                                       settings.seed)
    widths = dataset_caching.column_widths(schema, type("Projector", (), {"width": features.shape[1]}))
    fields = np.repeat(np.arange(len(widths)), widths)
    _, times["tree_importances, first call"] = timed(trees.tree_importances, embedding, fields)
    _, times["tree_importances"] = fastest(repeat, trees.tree_importances, embedding, fields)
    _, times["importance set"] = fastest(repeat, dataset_caching.importance_set, inputs, objective, settings,
                                         tree_count)
    with tempfile.TemporaryDirectory() as scratch:
        _, times["np.save"] = fastest(repeat, np.save, os.path.join(scratch, "full.npy"), full)
    return times


# The report ---------------------------------------------------------------------------------


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as stream:
        for line in stream:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s, %d cores (os.cpu_count), %d usable" % (model, os.cpu_count(), len(os.sched_getaffinity(0)))


def table(title, rows, count):
    print("\n%s\n\n| step | seconds | rows/s |\n|---|---|---|" % title)
    for step, seconds in rows:
        print("| %s | %.2f | %s |" % (step, seconds, "%.0f" % (count / seconds) if seconds > 0 else "-"))


def report(args, documents, answers, bare):
    rows = args.rows
    caching = answers["dataset_caching"][0]
    search, search_lines = answers["search_submodel"]
    image = answers["image_training"][0]
    phases = caching_phases(answers["dataset_caching"], documents["dataset_caching"]["output_directory"])
    print("\nmachine: %s" % machine())
    print("rows: %d (%d distinct image files, %dx%d input), %d numeric and %d categorical columns; "
          "cached row: %d float32 (%d tree columns)"
          % (rows, args.images, args.size, args.size, NUMERIC_COLUMNS, len(CATEGORY_SIZES),
             caching["row_size"] // 4, caching["tree_inputs"]))
    print("\n| job | job_time s | rows/s |\n|---|---|---|")
    for name in ("image_training", "dataset_caching", "search_submodel"):
        seconds = answers[name][0]["job_time"]
        print("| %s | %.2f | %.0f |" % (name, seconds, rows / seconds))

    table("dataset_caching in the worker", [("whole job", caching["job_time"])] + phases, rows)

    from pyramid.worker.dataset_caching import BATCH  # loaded by bare_steps already

    cold_trees = bare["learn_tree_embedding"] + bare["tree_importances, first call"]
    table("The same steps alone, in this process (the machine's limit; fastest of %d runs)" % args.repeat, [
        ("read .ser", bare["read .ser"]),
        ("load image network (once)", bare["load image network"]),
        ("image headers (`image_source`, every file's header)", bare["image headers"]),
        ("decode + rescale, no network (`evaluation_dataset`)", bare["decode + rescale"]),
        ("decode + rescale + network called eagerly per batch of %d" % BATCH, bare["projection"]),
        ("**bare projection**: the same with the network in a `tf.function`, as the worker does (max "
         "difference from eager %.1e)" % bare["tf.function difference"], bare["projection, tf.function"]),
        ("learn_tree_embedding", bare["learn_tree_embedding"]),
        ("tree_importances, first call in a process (compiles shapsplain's numba TreeSHAP)",
         bare["tree_importances, first call"]),
        ("tree_importances, warm", bare["tree_importances"]),
        ("**trees** as a worker's first caching job pays them (learn + first-call importances)", cold_trees),
        ("importance set (shapsplain representatives)", bare["importance set"]),
        ("np.save of the full dataset", bare["np.save"]),
    ], rows)

    trees = phases[2][1]
    print("\nthe trees take %.0f%% of the caching job (%.2f s of %.2f); learnt and explained alone, %.2f s the "
          "first time in a process and %.2f s warm: shapsplain's numba TreeSHAP compiles on the worker's first "
          "caching job with trees"
          % (100 * trees / caching["job_time"], trees, caching["job_time"], cold_trees,
             bare["learn_tree_embedding"] + bare["tree_importances"]))

    fit_start, fitting, after_fit = training_phases(search_lines, search["job_time"])
    batch = documents["search_submodel"]["batch_size"]
    iterations = search["iterations"]
    split = next(value["message"] for _, value in search_lines if value.get("message", "").endswith(" holdout"))
    train_rows = int(split.split()[0])
    print("\nsearch_submodel (%s, batch %d, %d training rows): %d iterations in %.2f s of fitting "
          "(elapsed_time %.2f): %.1f iterations/s, %.0f rows/s; job_time %.2f s "
          "(%.2f before fitting, %.2f after: evaluation on %s rows x 128 resamples, Shapley importances, writing)"
          % ("-".join(str(layer["number_of_nodes"]) for layer in documents["search_submodel"]["layers"]),
             batch, train_rows, iterations, fitting, search["elapsed_time"], iterations / search["elapsed_time"],
             iterations * batch / search["elapsed_time"], search["job_time"], fit_start, after_fit,
             min(4096, rows)))
    print("image_training: %d iterations, %.2f s (accuracy %.3f); search submodel accuracy %.3f, "
          "evaluation accuracy %.3f"
          % (image["iterations"], image["job_time"], image["validation_metrics"]["accuracy"],
             search["validation_metrics"]["accuracy"], search["evaluation_metrics"]["accuracy"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--images", type=int, default=1000, help="distinct image files, reused across the rows")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=50, help="image_training's max_iterations")
    parser.add_argument("--search-iterations", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=64, help="nodes of each of the 2 hidden layers")
    parser.add_argument("--batch", type=int, default=128, help="the search submodel's batch size")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each step alone (the fastest is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        cache_file, info_list, image_root = make_rows(directory, args.rows, args.images, args.size)
        paths, documents = write_documents(directory, cache_file, info_list, image_root, args.rows, args.size, args)
        started = time.monotonic()
        answers = run_worker(paths)
        print("worker: %.0f s for the three jobs" % (time.monotonic() - started), flush=True)
        bare = bare_steps(documents, answers, args.repeat)
        report(args, documents, answers, bare)


if __name__ == "__main__":
    main()
