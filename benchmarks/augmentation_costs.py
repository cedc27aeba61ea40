"""Where an augmented batch's time goes: CPU milliseconds per image of each augmentation
applied alone to a batch already in memory (no reading, no tf.data), against one plain pass
over the same pixels.

The pipeline benchmark (`pipeline.py`) measures what a user gets; this one isolates the
augmentation step, so that its cost can be set against the decoding limit per image that
`pipeline.py --table` prints (CPU ms/image of its first row):

    python benchmarks/augmentation_costs.py --size 224 --batch-size 32
    python benchmarks/augmentation_costs.py --only rotation,zoom

CPU time of the whole process (all threads) per image, the least of --repeats runs of
--batches batches, each batch fetched back to host memory as the pipeline's consumer would.
"""

import argparse
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's pyramid

from pyramid.augment import registry  # noqa: E402
from pyramid.augment.augmenter import Augmenter  # noqa: E402
from pyramid.importers import tf  # noqa: E402

SIX = ("brightness", "zoom", "horizontal_flip", "contrast", "cutout", "blur")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rows(only):
    """[(label, {name: n} or None for the plain pass)]."""
    table = [("one plain pass (x + 1)", None)]
    table += [(name, {name: registry.default_parameter(name)}) for name in registry.NAMES]
    table += [("six common", {name: registry.default_parameter(name) for name in SIX})]
    table += [("all 16", {name: registry.default_parameter(name) for name in registry.NAMES})]
    if only:
        wanted = set(only.split(","))
        table = [row for row in table if row[0] in wanted or row[1] is None]
    return table


def measure(parameters, images, batches, repeats):
    """Least CPU ms per image over `repeats` runs of `batches` batches."""
    if parameters is None:
        step = tf.function(lambda batch, number: batch + 1.0, jit_compile=True)
    else:
        augmenter = Augmenter(parameters, seed=1)
        step = tf.function(lambda batch, number: augmenter(batch, number))
    for number in range(3):  # tracing and compiling
        step(images, tf.constant(number, tf.int64)).numpy()
    best = float("inf")
    count = batches * int(images.shape[0])
    for _ in range(repeats):
        started = cpu_seconds()
        for number in range(batches):
            step(images, tf.constant(number, tf.int64)).numpy()
        best = min(best, (cpu_seconds() - started) / count * 1000)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="a comma list of row labels (the plain pass always runs)")
    args = parser.parse_args()

    pixels = np.random.default_rng(0).uniform(0, 255, (args.batch_size, args.size, args.size, 3))
    images = tf.constant(pixels.astype(np.float32))
    print("augmentation CPU ms per %dx%d image, batch %d, least of %d runs of %d batches; load %.2f"
          % (args.size, args.size, args.batch_size, args.repeats, args.batches, os.getloadavg()[0]))
    print("| augmentation | CPU ms/image |\n|---|---:|")
    started = time.monotonic()
    for label, parameters in rows(args.only):
        print("| %s | %.2f |" % (label, measure(parameters, images, args.batches, args.repeats)), flush=True)
    print("(%.0f s)" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
