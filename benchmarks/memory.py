"""Peak memory of pyramid's in-memory image source, against the decoded pixels' size.

Each measurement runs in a fresh process: it imports pyramid (from the checkout given, so
an older checkout can be measured side by side), notes the resident memory of TensorFlow
itself (after a trivial tf.data pipeline has run), then decodes every image into the
in-memory source (`image_source` with a `max_data_size` that keeps them all) and pulls
training batches. The table gives the peak resident memory above TensorFlow's own and the
list of files (paths and labels as Python objects, which any training run holds), as a
multiple of the decoded uint8 pixel bytes (images x height x width x 3).

    python benchmarks/memory.py --image-root /tmp/bench_images \\
        --training-data /tmp/bench_images/training_data.json --count 20000 --size 224 \\
        --compare /path/to/older/checkout

`--count` repeats the listed files as often as needed (the same files decode to the same
bytes; only their number matters here). For Fashion-MNIST at 32x32 give the list that
`benchmarks/train.py --fashion-mnist` writes (its `config.json`'s training_data).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)


def resident_mb():
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args):
    """In this process, with whichever pyramid is first on sys.path: prints one JSON line."""
    import numpy as np

    from pyramid.data import datasets
    from pyramid.importers import tf

    for _ in tf.data.Dataset.range(4).map(lambda x: x + 1).batch(2):
        pass
    tensorflow_mb = resident_mb()
    paths, labels = list_images(args)
    listed_mb = resident_mb()  # TensorFlow and the list of files and labels, in Python
    size = (args.size, args.size)
    images = datasets.image_source(paths, size, "crop", max_data_size=2**50)
    after_decoding = peak_mb()
    classes = sorted(set(labels))
    targets = np.eye(len(classes), dtype=np.float32)[[classes.index(label) for label in labels]]
    batches = datasets.training_dataset(images, {"target": targets}, np.ones(len(paths), np.float32),
                                        np.arange(len(paths)), 32, 1)
    for _, batch in zip(range(args.batches), batches):
        batch["image"].numpy()
    pixels_mb = len(paths) * size[0] * size[1] * 3 / 2**20
    print(json.dumps({"checkout": os.path.dirname(os.path.dirname(os.path.abspath(datasets.__file__))),
                      "images": len(paths), "pixels_mb": pixels_mb, "tensorflow_mb": tensorflow_mb, "listed_mb": listed_mb,
                      "peak_after_decoding_mb": after_decoding, "peak_mb": peak_mb()}))


def list_images(args):
    with open(args.training_data) as stream:
        points = json.load(stream)
    paths = [os.path.join(args.image_root, point["file"]) for point in points]
    labels = [str(point["label"]) for point in points]
    count = args.count or len(paths)
    repeats = -(-count // len(paths))
    return (paths * repeats)[:count], (labels * repeats)[:count]


def run(checkout, args):
    command = [sys.executable, __file__, "--measure", "--image-root", args.image_root, "--training-data",
               args.training_data, "--count", str(args.count), "--size", str(args.size), "--batches",
               str(args.batches)]
    environment = dict(os.environ, PYTHONPATH=checkout)
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    if finished.returncode != 0:
        raise RuntimeError(finished.stderr[-3000:])
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-root", required=True)
    parser.add_argument("--training-data", required=True, help="JSON training_data list")
    parser.add_argument("--count", type=int, default=0, help="images (the list repeated); 0: the list once")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--compare", help="another checkout to measure side by side (before)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return
    checkouts = ([("before", args.compare)] if args.compare else []) + [("this checkout", CHECKOUT)]
    print("| checkout | images | pixels MB | TensorFlow MB | + file list MB | peak MB | (peak - TensorFlow - list) / pixels |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, checkout in checkouts:
        result = run(checkout, args)
        ratio = (result["peak_mb"] - result["listed_mb"]) / result["pixels_mb"]
        print("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f |" % (
            label, result["images"], result["pixels_mb"], result["tensorflow_mb"],
            result["listed_mb"] - result["tensorflow_mb"], result["peak_mb"], ratio), flush=True)


if __name__ == "__main__":
    main()
