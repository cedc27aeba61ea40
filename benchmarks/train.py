"""Training benchmarks: throughput per topology and setting, and Fashion-MNIST accuracy.

Throughput (images/s of training steps on in-memory batches) for each topology at one input
size: float32 against mixed_bfloat16, and 1 against 2 replicas (the CPU split into two
logical devices, as PYRAMID_CPU_DEVICES does). Each setting runs in its own process (device
splitting must happen before TensorFlow starts) and the settings of a topology run back to
back, so the ratios compare like with like on a shared machine.

    python benchmarks/train.py --throughput --size 32 --batch-size 32 --steps 60
    python benchmarks/train.py --throughput --topologies simple,resnet18 --size 64

Accuracy: writes Fashion-MNIST (Debian package dataset-fashion-mnist) as 32x32 RGB PNGs
once, trains with pyramid_train for --max-total-time seconds, and reports the accuracy of
the written final_model.json, run by sensenet, on the 10,000 test images.

    python benchmarks/train.py --fashion-mnist --max-total-time 600
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, CHECKOUT)  # this checkout's pyramid, wherever the script is run from
FASHION = "/usr/share/datasets/fashion-mnist/"
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
SETTINGS = (("float32", 1), ("mixed_bfloat16", 1), ("float32", 2), ("mixed_bfloat16", 2))


# Throughput --------------------------------------------------------------------------------


def measure(topology, size, batch_size, steps, precision):
    """images/s of `steps` training steps (after warm-up) in this process."""
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
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch_size)]
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(2)
    model.fit(dataset, steps_per_epoch=5, epochs=1, verbose=0)  # trace and warm up
    started = time.monotonic()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.monotonic() - started)


def measure_in_subprocess(topology, args, precision, replicas):
    environment = dict(os.environ, PYTHONPATH=CHECKOUT, PYRAMID_CPU_DEVICES=str(replicas))
    command = [
        sys.executable, __file__, "--measure", topology, "--size", str(args.size),
        "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--precision", precision,
    ]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    if finished.returncode != 0:
        raise RuntimeError(finished.stderr[-2000:])
    return float(finished.stdout.strip().splitlines()[-1])


def throughput_table(args):
    print("training throughput, images/s: input %dx%d, batch %d, %d steps, %d CPUs"
          % (args.size, args.size, args.batch_size, args.steps, os.cpu_count()))
    header = "%-16s" % "topology" + "".join("%14s" % ("%s x%d" % (p[6:] if p != "float32" else p, r)) for p, r in SETTINGS)
    header += "%12s%12s" % ("bf16/f32", "2rep/1rep")
    print(header)
    print("-" * len(header))
    for topology in args.topologies.split(","):
        rates = [measure_in_subprocess(topology, args, precision, replicas) for precision, replicas in SETTINGS]
        row = "%-16s" % topology + "".join("%14.0f" % rate for rate in rates)
        row += "%12.2f%12.2f" % (rates[1] / rates[0], rates[2] / rates[0])
        print(row, flush=True)


# Fashion-MNIST -------------------------------------------------------------------------------


def read_idx(name, offset):
    with gzip.open(os.path.join(FASHION, name)) as stream:
        return np.frombuffer(stream.read(), np.uint8, offset=offset)


def write_fashion_images(directory):
    """PNG files of the training and test sets (once); returns (train points, test points)."""
    from PIL import Image

    sets = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx("%s-images-idx3-ubyte.gz" % prefix, 16).reshape(-1, 28, 28)
        labels = read_idx("%s-labels-idx1-ubyte.gz" % prefix, 8)
        points = []
        for index, (pixels, label) in enumerate(zip(images, labels)):
            name = "%s/%05d.png" % (part, index)
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Image.fromarray(pixels, "L").resize((32, 32), Image.BILINEAR).convert("RGB").save(path)
            points.append({"file": name, "label": FASHION_CLASSES[label]})
        sets[part] = points
    return sets["train"], sets["test"]


def fashion_accuracy(args):
    if not os.path.isdir(FASHION):
        sys.exit("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist")
    train, test = write_fashion_images(args.data_directory)
    output = os.path.join(args.data_directory, "output")
    config = {
        "image_root": args.data_directory,
        "output_directory": output,
        "input_image_shape": [32, 32, 3],
        "image_network_candidates": [pair.split(":") for pair in args.candidates.split(",")],
        "max_total_time": args.max_total_time,
        "batch_size": 64,
        "learning_rate": 0.002,
        "holdout_set_size": 2000,
        "patience": 6,
        "image_augmentations": ["horizontal_flip"],
        "training_data": train,
    }
    config_path = os.path.join(args.data_directory, "config.json")
    with open(config_path, "w") as stream:
        json.dump(config, stream)

    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pyramid.commands.train", config_path], check=True,
                   env=dict(os.environ, PYTHONPATH=CHECKOUT))
    wall = time.monotonic() - started
    accuracy = test_accuracy(os.path.join(output, "final_model.json"), args.data_directory, test)
    print("Fashion-MNIST: max_total_time %gs, wall %.0fs, test accuracy %.4f on %d images"
          % (args.max_total_time, wall, accuracy, len(test)))


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
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--fashion-mnist", action="store_true")
    parser.add_argument("--measure", metavar="TOPOLOGY", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--topologies", default="simple,simple_residual,mobilenet,mobilenetv2,resnet18")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--max-total-time", type=float, default=600)
    parser.add_argument("--candidates", default="simple_residual:randomly_initialize")
    parser.add_argument("--data-directory", default="/tmp/pyramid-fashion-mnist")
    args = parser.parse_args()

    if args.measure:
        print(measure(args.measure, args.size, args.batch_size, args.steps, args.precision))
    elif args.throughput:
        throughput_table(args)
    elif args.fashion_mnist:
        fashion_accuracy(args)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
