"""Training benchmarks: pyramid's training loop, the network's step (with and without XLA),
and Fashion-MNIST accuracy.

Every measurement runs in its own process (device splitting must happen before TensorFlow
starts); the settings of a topology run back to back, so the ratios compare like with like on
a shared machine. Two replicas are the CPU split into two logical devices, as
PYRAMID_CPU_DEVICES=2 does.

--throughput: images/s of pyramid's own training loop (`fit_candidate`, its controller and
steps per execution, in-memory images; the second of two passes, between the holdout checks
that end them) for this checkout against a git revision of this repository (--baseline,
default main: its files are exported to a temporary directory and imported from there), on
1 and 2 replicas:

    python benchmarks/train.py --throughput --steps 100 --repeats 2 --baseline 361c9c9

--network: images/s of Keras' `fit` alone on one repeated batch, float32 against
mixed_bfloat16, 1 against 2 replicas. --xla: the same without and with `jit_compile`, at each
topology's usual input size with --usual-sizes:

    python benchmarks/train.py --network --size 32 --batch-size 32 --steps 60
    python benchmarks/train.py --xla --usual-sizes --topologies mobilenet,resnet18 --batch-size 16 --steps 3

Accuracy: writes Fashion-MNIST (Debian package dataset-fashion-mnist) as RGB PNGs once
(32x32, resized bilinearly from the data's 28x28, or at --fashion-size, 28 for the files as
they are), trains with pyramid_train for --max-total-time seconds, and reports the accuracy of
the written final_model.json, run by sensenet, on the 10,000 test images.

    python benchmarks/train.py --fashion-mnist --max-total-time 600
    python benchmarks/train.py --fashion-mnist --set label_smoothing_factor=0.1 --set batch_size=128
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, CHECKOUT)  # this checkout's pyramid, wherever the script is run from
FASHION = "/usr/share/datasets/fashion-mnist/"
FASHION_SIDE = 28  # pixels a side of Fashion-MNIST's images as published
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
SETTINGS = (("float32", 1), ("mixed_bfloat16", 1), ("float32", 2), ("mixed_bfloat16", 2))
# Holdout rows of the fit-loop measurement: few, so that its checks take little of the time.
FIT_HOLDOUT = 8
# Batches of the fit-loop measurement before the measured pass: past pyramid's switch to the
# several-batch step (SINGLE_BATCH_ITERATIONS, 200) and the tracing of that step.
FIT_WARMUP = 300
# The input sizes the topologies are usually trained at: pretrained networks at their
# ImageNet size, the small ones at CIFAR's.
USUAL_SIZE = {"simple": 32, "simple_residual": 32, "mobilenet": 224, "mobilenetv2": 224, "resnet18": 224}


# Throughput --------------------------------------------------------------------------------


def measure(topology, size, batch_size, steps, precision, jit_compile=False):
    """images/s of `steps` training steps (after warm-up) in this process, Keras' own `fit`
    on one repeated batch: the network's speed alone (no input pipeline, no controller)."""
    from pyramid.nets import topologies
    from pyramid.nets.model import BuiltModel, network_document
    from pyramid.importers import keras, tf
    from pyramid.train import devices

    strategy = devices.choose_strategy()
    with strategy.scope():
        image_network = topologies.image_network(topology, (size, size), "crop")
        topologies.seed_layers(image_network["layers"], 1)
        readout = topologies.seed_layers(topologies.default_readout(10, "softmax"), 2)
        exposition = {"type": "categorical", "values": [str(i) for i in range(10)]}
        model = BuiltModel(network_document(image_network, readout, exposition), precision).keras_model
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch_size)]
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(2)
    model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # trace (and compile) and warm up
    started = time.monotonic()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.monotonic() - started)


def measure_fit(topology, size, batch_size, steps, precision, image_root):
    """images/s of pyramid's own training loop in this process: `fit_candidate` with its
    controller (holdout checks, budgets, steps per execution, whatever the imported pyramid
    does) on in-memory images, timed over one pass of `steps` batches (between the holdout
    checks at its ends) after passes of at least FIT_WARMUP batches (tracing the one-batch
    step, then the several-batch one)."""
    from pyramid.config import validate_train_config
    from pyramid.importers import keras
    from pyramid.train import devices
    from pyramid.train.data import TrainingData
    from pyramid.train.fit import CandidateResult, fit_candidate
    from pyramid.train.records import Progress, TensorBoard
    from pyramid.train.run import build_candidate

    with open(os.path.join(image_root, "points.json")) as stream:
        points = json.load(stream)[: steps * batch_size + FIT_HOLDOUT]
    from pyramid.train import fit

    # Code without the several-batch step (a baseline) needs only the pass that traces.
    warmup_passes = -(-FIT_WARMUP // steps) if hasattr(fit, "SINGLE_BATCH_ITERATIONS") else 1
    config = validate_train_config({
        "image_root": image_root, "output_directory": os.path.join(image_root, "output"),
        "input_image_shape": [size, size, 3], "image_network_candidates": [[topology, "randomly_initialize"]],
        "max_total_time": 1e6, "max_seconds_per_update": 1e6, "patience": 1000, "batch_size": batch_size,
        "holdout_set_size": FIT_HOLDOUT, "precision": precision, "training_data": points,
        # Past the check at the end of the measured pass.
        "max_iterations": (warmup_passes + 1) * steps + 1,
    })
    data = TrainingData(config)
    assert len(data.train_rows) == steps * batch_size, len(data.train_rows)
    strategy = devices.choose_strategy()
    keras.backend.clear_session()
    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        built = build_candidate(topology, "randomly_initialize", data, config)
        result = CandidateResult(topology, "randomly_initialize")
        progress = Progress(topology, 1e6, lambda text: None, stream=open(os.devnull, "w"))
        fit_candidate(built, data, config, time.monotonic() + 1e6, result, progress, TensorBoard(None))
    seconds = {check["iteration"]: check["seconds"] for check in result.checks}
    return steps * batch_size / (seconds[(warmup_passes + 1) * steps] - seconds[warmup_passes * steps])


def write_throughput_images(directory, size, count):
    """`count` noise PNGs of `size`x`size` with ten labels, and their points (once)."""
    from PIL import Image

    path = os.path.join(directory, "points.json")
    if os.path.exists(path):
        with open(path) as stream:
            if len(json.load(stream)) >= count:
                return
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(0)
    points = []
    for index in range(count):
        name = "%05d.png" % index
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(os.path.join(directory, name))
        points.append({"file": name, "label": str(index % 10)})
    with open(path, "w") as stream:
        json.dump(points, stream)


def run_measurement(topology, args, precision, replicas, checkout=CHECKOUT, **options):
    """One measurement in a fresh process (device splitting must happen before TensorFlow
    starts) that imports pyramid from `checkout`."""
    environment = dict(os.environ, PYTHONPATH=checkout, PYRAMID_CPU_DEVICES=str(replicas))
    command = [
        sys.executable, __file__, "--measure", topology, "--size", str(options.get("size", args.size)),
        "--batch-size", str(options.get("batch_size", args.batch_size)),
        "--steps", str(options.get("steps", args.steps)), "--precision", precision, "--checkout", checkout,
    ]
    if options.get("fit"):
        command += ["--fit", "--image-root", options["image_root"]]
    if options.get("jit"):
        command += ["--jit"]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    if finished.returncode != 0:
        raise RuntimeError(finished.stderr[-2000:])
    return float(finished.stdout.strip().splitlines()[-1])


def best_of(repeats, measure):
    return max(measure() for _ in range(repeats))


def network_table(args):
    """Keras' `fit` alone: float32 against mixed_bfloat16, 1 against 2 replicas."""
    print("training throughput of the network alone (Keras fit, one repeated batch), images/s: "
          "input %dx%d, batch %d, %d steps, %d CPUs" % (args.size, args.size, args.batch_size, args.steps, os.cpu_count()))
    header = "%-16s" % "topology" + "".join("%14s" % ("%s x%d" % (p[6:] if p != "float32" else p, r)) for p, r in SETTINGS)
    header += "%12s%12s" % ("bf16/f32", "2rep/1rep")
    print(header)
    print("-" * len(header))
    for topology in args.topologies.split(","):
        rates = [run_measurement(topology, args, precision, replicas) for precision, replicas in SETTINGS]
        row = "%-16s" % topology + "".join("%14.0f" % rate for rate in rates)
        row += "%12.2f%12.2f" % (rates[1] / rates[0], rates[2] / rates[0])
        print(row, flush=True)


def baseline_checkout(revision):
    """A temporary copy of the files of `revision` of this repository (to import its pyramid)."""
    directory = tempfile.mkdtemp(prefix="pyramid-baseline-")
    archive = subprocess.run(["git", "-C", CHECKOUT, "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", directory], input=archive.stdout, check=True)
    return directory


def fit_loop_table(args):
    """pyramid's training loop, this checkout against `--baseline`'s, on 1 and 2 replicas;
    the four settings of a topology run back to back, each the best of `--repeats`."""
    image_root = os.path.join(args.data_directory, "throughput-%d" % args.size)
    write_throughput_images(image_root, args.size, args.steps * args.batch_size + FIT_HOLDOUT)
    baseline = baseline_checkout(args.baseline)
    try:
        fit_loop_rows(args, image_root, baseline)
    finally:
        shutil.rmtree(baseline, ignore_errors=True)


def fit_loop_rows(args, image_root, baseline):
    print("training throughput of pyramid's fit loop, images/s: input %dx%d, batch %d, %d steps a pass, "
          "precision %s, best of %d, %d CPUs; before = %s, after = this checkout"
          % (args.size, args.size, args.batch_size, args.steps, args.precision, args.repeats, os.cpu_count(),
             args.baseline))
    header = "%-16s" % "topology"
    for replicas in (1, 2):
        header += "%12s%12s%8s" % ("before x%d" % replicas, "after x%d" % replicas, "ratio")
    print(header)
    print("-" * len(header))
    for topology in args.topologies.split(","):
        row = "%-16s" % topology
        for replicas in (1, 2):
            rates = [
                best_of(args.repeats, lambda: run_measurement(
                    topology, args, args.precision, replicas, checkout, fit=True, image_root=image_root))
                for checkout in (baseline, CHECKOUT)
            ]
            row += "%12.0f%12.0f%8.2f" % (rates[0], rates[1], rates[1] / rates[0])
        print(row, flush=True)


def xla_table(args):
    """The training step with and without XLA (`jit_compile`), per topology at its usual
    input size, in float32 and mixed_bfloat16, on 1 replica."""
    print("training throughput of the network alone, without and with XLA, images/s: batch %d, "
          "%d steps after the compiling ones, best of %d, %d CPUs" % (args.batch_size, args.steps, args.repeats, os.cpu_count()))
    header = "%-16s%6s" % ("topology", "size")
    for precision in ("float32", "mixed_bfloat16"):
        short = "f32" if precision == "float32" else "bf16"
        header += "%11s%11s%7s" % (short, short + "+xla", "ratio")
    print(header)
    print("-" * len(header))
    for topology in args.topologies.split(","):
        size = USUAL_SIZE[topology] if args.usual_sizes else args.size
        row = "%-16s%6d" % (topology, size)
        for precision in ("float32", "mixed_bfloat16"):
            rates = [best_of(args.repeats, lambda: run_measurement(topology, args, precision, 1, size=size, jit=jit))
                     for jit in (False, True)]
            row += "%11.1f%11.1f%7.2f" % (rates[0], rates[1], rates[1] / rates[0])
        print(row, flush=True)


# Fashion-MNIST -------------------------------------------------------------------------------


def read_idx(name, offset):
    with gzip.open(os.path.join(FASHION, name)) as stream:
        return np.frombuffer(stream.read(), np.uint8, offset=offset)


def write_fashion_images(directory, size):
    """PNG files of the training and test sets at `size` x `size` (once); returns (train
    points, test points)."""
    from PIL import Image

    sets = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx("%s-images-idx3-ubyte.gz" % prefix, 16).reshape(-1, FASHION_SIDE, FASHION_SIDE)
        labels = read_idx("%s-labels-idx1-ubyte.gz" % prefix, 8)
        points = []
        for index, (pixels, label) in enumerate(zip(images, labels)):
            name = "%s/%05d.png" % (part, index)
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                image = Image.fromarray(pixels, "L")
                if size != FASHION_SIDE:
                    image = image.resize((size, size), Image.BILINEAR)
                image.convert("RGB").save(path)
            points.append({"file": name, "label": FASHION_CLASSES[label]})
        sets[part] = points
    return sets["train"], sets["test"]


def fashion_accuracy(args):
    if not os.path.isdir(FASHION):
        sys.exit("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist")
    directory = args.data_directory or fashion_directory(args.fashion_size)
    train, test = write_fashion_images(directory, args.fashion_size)
    output = os.path.join(directory, "output")
    config = {
        "image_root": directory,
        "output_directory": output,
        "input_image_shape": [args.fashion_size, args.fashion_size, 3],
        "image_network_candidates": [pair.split(":") for pair in args.candidates.split(",")],
        "max_total_time": args.max_total_time,
        "batch_size": 64,
        "learning_rate": 0.002,
        "holdout_set_size": 2000,
        "patience": 6,
        "image_augmentations": args.augmentations.split(",") if args.augmentations else [],
        "training_data": train,
    }
    config.update(args.set)
    config_path = os.path.join(directory, "config.json")
    with open(config_path, "w") as stream:
        json.dump(config, stream)

    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pyramid.commands.train", config_path], check=True,
                   env=dict(os.environ, PYTHONPATH=CHECKOUT))
    wall = time.monotonic() - started
    accuracy = test_accuracy(os.path.join(output, "final_model.json"), directory, test)
    print("Fashion-MNIST at %dx%d: max_total_time %gs, wall %.0fs, test accuracy %.4f on %d images"
          % (args.fashion_size, args.fashion_size, args.max_total_time, wall, accuracy, len(test)))


def config_setting(text):
    """--set's KEY=JSON as (key, value); argparse reports a ValueError as a usage error."""
    key, equals, value = text.partition("=")
    if not key or not equals:
        raise ValueError(text)
    return key, json.loads(value)


def fashion_directory(size):
    """Where the images of `size` are written: one directory per size."""
    return "/tmp/pyramid-fashion-mnist" + ("" if size == 32 else "-%d" % size)


def test_accuracy(model_path, image_root, points):
    """Accuracy of sensenet's model built from final_model.json, on the files."""
    from PIL import Image

    from pyramid.importers import tf  # noqa: F401  (sets up TensorFlow for sensenet)
    from sensenet.models.wrappers import create_model

    model = create_model(model_path)
    classes = model._classes
    correct = 0
    for start in range(0, len(points), 500):
        chunk = points[start : start + 500]
        pixels = np.stack([np.asarray(Image.open(os.path.join(image_root, p["file"])).convert("RGB")) for p in chunk])
        predicted = model._model.predict(pixels.astype(np.float32), verbose=0).argmax(axis=1)
        correct += sum(classes[k] == p["label"] for k, p in zip(predicted, chunk))
    return correct / len(points)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--throughput", action="store_true", help="pyramid's fit loop, --baseline against this checkout")
    parser.add_argument("--network", action="store_true", help="Keras fit alone: float32/bfloat16, 1/2 replicas")
    parser.add_argument("--xla", action="store_true", help="the training step without and with XLA")
    parser.add_argument("--fashion-mnist", action="store_true")
    parser.add_argument("--measure", metavar="TOPOLOGY", help=argparse.SUPPRESS)
    parser.add_argument("--fit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkout", default=CHECKOUT, help=argparse.SUPPRESS)
    parser.add_argument("--image-root", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="auto", help="of --throughput (auto: what pyramid picks)")
    parser.add_argument("--baseline", default="main", help="the git revision --throughput compares against")
    parser.add_argument("--topologies", default="simple,simple_residual,mobilenet,mobilenetv2,resnet18")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--usual-sizes", action="store_true", help="--xla at each topology's usual size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-total-time", type=float, default=600)
    parser.add_argument("--candidates", default="simple:randomly_initialize,simple_residual:randomly_initialize",
                        help="--fashion-mnist: topology:method pairs, comma separated (default: the two issue 11 names)")
    parser.add_argument("--augmentations", default="horizontal_flip",
                        help="--fashion-mnist: image_augmentations, comma separated")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", type=config_setting,
                        help="--fashion-mnist: a config key's value, e.g. label_smoothing_factor=0.1 (repeatable)")
    parser.add_argument("--fashion-size", type=int, default=32,
                        help="--fashion-mnist: the images' (and the networks' input) side; 28 is the data's own")
    parser.add_argument("--data-directory",
                        help="--fashion-mnist: where its images go (default /tmp/pyramid-fashion-mnist, -SIZE appended but for 32)")
    args = parser.parse_args()

    if args.measure:
        sys.path.insert(0, args.checkout)  # the pyramid to measure
        if args.fit:
            rate = measure_fit(args.measure, args.size, args.batch_size, args.steps, args.precision, args.image_root)
        else:
            rate = measure(args.measure, args.size, args.batch_size, args.steps, args.precision, args.jit)
        print(rate)
    elif args.throughput:
        fit_loop_table(args)
    elif args.network:
        network_table(args)
    elif args.xla:
        xla_table(args)
    elif args.fashion_mnist:
        fashion_accuracy(args)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
