"""Throughput of pyramid's real training input pipeline, with and without augmentation.

The pipeline is built with pyramid's own code, as training builds it: `FileImages` (every
image read, decoded and rescaled with "crop" from disk for every batch, not the in-memory
source), dummy one-hot targets from the labels, unit weights, and `training_dataset(...,
augment=Augmenter(parameters, seed))`. Each augmentation gets its default parameter
(`pyramid.augment.registry`). After a warm-up of a few batches, `--batches`
batches are pulled and their images materialised (`.numpy()`).

One configuration (the last line is `images/s: X`):

    python benchmarks/pipeline.py \
        --image-root /tmp/bench_images --training-data /tmp/bench_images/training_data.json \
        --size 224 --batch-size 32 --batches 20 --augmentations all

`--augmentations` is `none`, `all`, or a comma list of names (aliases such as
`flip_horizontal` allowed).

The table (`--table`, same image arguments): first the machine's limit for these files (read,
decode, nearest resize, batch and cast in tf.data, nothing else; every row's ratio is to it),
then no augmentation, each of the sixteen alone, all sixteen, and a per-image `tf.py_function`
reference doing the same sixteen with numpy/Pillow
(`benchmarks/reference_augment.py`) on unbatched images before `.batch()`. Every
configuration is measured `--repeats` times, in alternating order (forwards, backwards, ...),
and its best run is reported, since on a shared machine noise only ever slows a run down.
Beside images/s (wall clock) the table gives the CPU time of this process per image (least of
the runs), which other processes disturb much less: on an otherwise idle machine whose cores
the pipeline keeps busy, images/s is about cores / CPU time per image. (The py_function
reference also waits on Python's GIL, which CPU time does not show.)

Images without internet: `benchmarks/make_images.py --output DIR --count N`, e.g.

    python benchmarks/make_images.py --output /tmp/bench_images --count 512
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # reference_augment
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's pyramid, not an installed copy

from pyramid.augment import registry as settings  # noqa: E402
from pyramid.data import datasets, reading  # noqa: E402
from pyramid.augment.augmenter import Augmenter  # noqa: E402
from pyramid.importers import tf  # noqa: E402
from reference_augment import ReferenceAugmenter  # noqa: E402

RESCALE_TYPE = "crop"
SEED = 1
REFERENCE = "py_function reference (all 16)"
LIMIT = "decode only (the limit)"
# Six common augmentations together, a row of the table (its label has no comma, so that
# --only can name it).
COMMON_SIX = ("brightness", "zoom", "horizontal_flip", "contrast", "cutout", "blur")
SIX = "six common"


# Inputs ------------------------------------------------------------------------------------


def parse_augmentations(text):
    """{name: default n} for `none`, `all` or a comma list of names or aliases."""
    text = text.strip()
    if text == "none":
        return {}
    if text == "all":
        names = settings.NAMES
    else:
        names = [settings.ALIASES.get(name.strip(), name.strip()) for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(settings.NAMES))
    if unknown:
        raise ValueError("unknown augmentations %s; known: %s" % (unknown, ", ".join(settings.NAMES)))
    return {name: settings.default_parameter(name) for name in names}


class Inputs:
    """The image paths, dummy targets and weights, and the shapes every pipeline shares."""

    def __init__(self, image_root, list_path, size, batch_size):
        with open(list_path) as stream:
            points = json.load(stream)
        self.paths = [os.path.join(image_root, point["file"]) for point in points]
        labels = [str(point["label"]) for point in points]
        classes = sorted(set(labels))
        class_ids = np.array([classes.index(label) for label in labels])
        self.targets = np.eye(len(classes), dtype=np.float32)[class_ids]
        self.weights = np.ones(len(points), np.float32)
        self.rows = np.arange(len(points))
        self.shape_hw = (size, size)
        self.batch_size = batch_size

    def dataset(self, images, augment=None):
        return datasets.training_dataset(
            images, {"target": self.targets}, self.weights, self.rows, self.batch_size, SEED,
            augment=augment, to_keras=lambda batch: (batch["image"], batch["target"], batch["weight"]),
        )

    def engine(self, parameters):
        """The real pipeline: FileImages, batched graph augmentation (or none)."""
        decoders = [reading.choose_decoder(path) for path in self.paths]
        images = datasets.FileImages(self.paths, decoders, self.shape_hw, RESCALE_TYPE)
        return self.dataset(images, Augmenter(parameters, SEED) or None)

    def limit(self):
        """The machine's limit for these files: read, decode, nearest resize, batch, cast, in
        tf.data and nothing else (no rescale rule, no targets, no augmentation)."""
        paths = tf.constant(self.paths)
        size = list(self.shape_hw)

        def read(index):
            contents = tf.io.read_file(tf.gather(paths, index))
            image = tf.io.decode_image(contents, channels=3, expand_animations=False)
            return tf.image.resize(image, size, method="nearest")

        order = datasets.shuffled_rows(self.rows, SEED)
        batches = order.map(read, num_parallel_calls=datasets.PARALLEL_CALLS).batch(self.batch_size, drop_remainder=True)
        return datasets.finish(batches.map(lambda images: (tf.cast(images, tf.float32),)))

    def reference(self, parameters):
        """Same reading, batching and targets; augmentation per image with tf.py_function."""
        images = PyFunctionImages(self.paths, self.shape_hw, ReferenceAugmenter(parameters, SEED))
        return self.dataset(images)


class PyFunctionImages:
    """FileImages' reading, then a numpy/Pillow augmentation per image via tf.py_function."""

    def __init__(self, paths, shape_hw, augmenter):
        decoders = [reading.choose_decoder(path) for path in paths]
        self.read = datasets.file_reader(list(paths), decoders, shape_hw, RESCALE_TYPE)
        self.augmenter = augmenter

    def batched(self, indices, batch_size, drop_remainder):
        def read(index, row):
            return reading.fill_padding(*self.read(row)), index, row

        def augment(image, index, row):
            augmented = tf.py_function(self.augmenter, [image, index], tf.float32)
            return {"image": tf.ensure_shape(augmented, image.shape), "row": row}

        elements = indices.enumerate().map(read, num_parallel_calls=datasets.PARALLEL_CALLS)
        elements = elements.map(augment, num_parallel_calls=datasets.PARALLEL_CALLS)
        return elements.batch(batch_size, drop_remainder=drop_remainder)

    def assemble(self, element):
        return element["image"], element["row"]


# Measuring ---------------------------------------------------------------------------------


class Measurement:
    """Images per second of wall time, and CPU seconds (all of this process's threads) per image."""

    def __init__(self, images, wall, cpu):
        self.rate = images / wall
        self.cpu_ms = 1000 * cpu / images


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(dataset, batches, warmup):
    """Pull `warmup` batches, then time `batches` more, materialising their images."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)[0].numpy()
    images = 0
    start, start_cpu = time.perf_counter(), cpu_seconds()
    for _ in range(batches):
        images += next(iterator)[0].numpy().shape[0]
    wall, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    del iterator
    return Measurement(images, wall, cpu)


def table_configurations(inputs, only=None):
    """[(label, build)]: the limit, none, each augmentation alone, the six common ones, all
    sixteen, the reference; only the labels in `only` when given (the limit always)."""
    everything = parse_augmentations("all")
    rows = [(LIMIT, inputs.limit), ("none", lambda: inputs.engine({}))]
    for name in settings.NAMES:
        rows.append((name, lambda name=name: inputs.engine({name: everything[name]})))
    rows.append((SIX, lambda: inputs.engine(parse_augmentations(",".join(COMMON_SIX)))))
    rows.append(("all 16", lambda: inputs.engine(everything)))
    rows.append((REFERENCE, lambda: inputs.reference(everything)))
    if only:
        unknown = set(only) - {label for label, _ in rows} - {"limit"}
        if unknown:
            raise ValueError("unknown configurations %s" % sorted(unknown))
        rows = [row for row in rows if row[0] == LIMIT or row[0] in only]
    return rows


def measure_all(configurations, batches, warmup, repeats):
    """{label: [Measurement per run]}, runs in alternating order to spread drifting load."""
    runs = {label: [] for label, _ in configurations}
    for repeat in range(repeats):
        order = configurations if repeat % 2 == 0 else configurations[::-1]
        for label, build in order:
            run = measure(build(), batches, warmup)
            runs[label].append(run)
            print("  run %d  %-32s %8.1f images/s %6.2f CPU ms/image" % (repeat + 1, label, run.rate, run.cpu_ms),
                  file=sys.stderr, flush=True)
    return runs


# Reporting ---------------------------------------------------------------------------------


def machine_description():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as stream:
            model = next(line.split(":", 1)[1].strip() for line in stream if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "machine: %d CPUs (%d usable), %s; Python %s, TensorFlow %s, tf.data parallel calls %d; %s" % (
        os.cpu_count(), usable, model, platform.python_version(), tf.__version__, datasets.PARALLEL_CALLS,
        load_average(),
    )


def load_average():
    return "load average %.2f (1 min)" % os.getloadavg()[0]


def print_table(runs, args, image_count):
    """Best wall-clock rate and least CPU per image of each configuration, and the ratios."""
    rate = {label: max(run.rate for run in values) for label, values in runs.items()}
    cpu = {label: min(run.cpu_ms for run in values) for label, values in runs.items()}
    print("images: %d files under %s, %dx%d %s, batch %d, %d batches after %d warm-up, best of %d runs"
          % (image_count, args.image_root, args.size, args.size, RESCALE_TYPE, args.batch_size,
             args.batches, args.warmup, args.repeats))
    print("after the runs: %s" % load_average())
    print("six common: %s" % ", ".join(COMMON_SIX))
    print()
    print("| configuration | images/s (best) | runs (images/s) | vs limit | CPU ms/image (least) | CPU vs limit |")
    print("|---|---:|---|---:|---:|---:|")
    for label, values in runs.items():
        spread = " / ".join("%.0f" % run.rate for run in values)
        print("| %s | %.1f | %s | %.2f | %.2f | %.2f |" % (
            label, rate[label], spread, rate[label] / rate[LIMIT], cpu[label], cpu[label] / cpu[LIMIT]))
    if "all 16" in rate and REFERENCE in rate:
        print()
        print("all 16 (batched graph) vs %s: %.2fx the images/s, %.2fx less CPU per image" % (
            REFERENCE, rate["all 16"] / rate[REFERENCE], cpu[REFERENCE] / cpu["all 16"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-root", required=True)
    parser.add_argument("--training-data", required=True, help="JSON training_data list")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--augmentations", default="none", help="none, all, or a comma list of names")
    parser.add_argument("--table", action="store_true", help="every configuration and the reference")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration (--table)")
    parser.add_argument("--only", help="--table: a comma list of its row labels (the limit row always runs), "
                        "e.g. none,horizontal_flip,all 16")
    args = parser.parse_args()

    inputs = Inputs(args.image_root, args.training_data, args.size, args.batch_size)
    print(machine_description())
    if args.table:
        only = [label.strip() for label in args.only.split(",")] if args.only else None
        try:
            configurations = table_configurations(inputs, only)
        except ValueError as error:
            parser.error(str(error))
        runs = measure_all(configurations, args.batches, args.warmup, args.repeats)
        print_table(runs, args, len(inputs.paths))
        return
    try:
        parameters = parse_augmentations(args.augmentations)
    except ValueError as error:
        parser.error(str(error))
    print("augmentations: %s" % (", ".join("%s=%g" % item for item in parameters.items()) or "none"))
    run = measure(inputs.engine(parameters), args.batches, args.warmup)
    print("CPU ms/image: %.2f" % run.cpu_ms)
    print("images/s: %.1f" % run.rate)


if __name__ == "__main__":
    main()
