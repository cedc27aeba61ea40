"""Throughput of pyramid_generate: images/s at 416x416 with 1 and 8 foregrounds, without and
with all sixteen foreground augmentations.

The sources are those of the README's example (examples/generate/make_sources.py: 98 colour
emoji with alpha as foregrounds, 23 real photos as backgrounds; needs Debian's
fonts-noto-color-emoji and opencv-doc). Each configuration runs pyramid's own generation
(`pyramid.generate.output.examples` with its images PNG-encoded and written to a temporary
directory, as `pyramid_generate` writes them); after a warm-up batch (tracing), `--count`
images are timed. The first row is the floor: backgrounds only, encoded and written.
Configurations are measured `--repeats` times in alternating order and the
best run is reported (noise on a shared machine only slows a run down), with the CPU time of
this process per image beside it. Ratios are to the first row, measured in the same run.

    python benchmarks/generate.py [--size 416] [--count 96] [--repeats 2]
"""

import argparse
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, CHECKOUT)  # this checkout's pyramid, not an installed copy
sys.path.insert(0, os.path.join(CHECKOUT, "examples", "generate"))

from make_sources import make_sources  # noqa: E402
from pyramid.generate import output  # noqa: E402
from pyramid.generate.augmentation import NAMES  # noqa: E402
from pyramid.generate.settings import validate_generate_config  # noqa: E402

BATCH = 16


def configurations():
    # The floor: a background (photo crop or synthetic) encoded and written, nothing pasted.
    yield "no foreground (background and PNG only)", {"max_foreground_images": 0}
    for foregrounds in (1, 8):
        for augmentations in ([], list(NAMES)):
            name = "%d foreground%s, %s" % (foregrounds, "s" if foregrounds > 1 else "",
                                           "all 16 augmentations" if augmentations else "no augmentation")
            yield name, {"max_foreground_images": foregrounds, "foreground_image_augmentations": augmentations}


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(sources, size, count, changes, scratch):
    """(images/s, CPU s per image) of generating `count` images, after a warm-up batch."""
    config = {
        "foreground_image_root": sources[0], "background_image_root": sources[1], "objective_type": "bounding_box",
        "generated_dataset_size": count + BATCH, "input_image_shape": [size, size, 3],
        "output_directory": scratch, "occupancy_range": [0.2, 0.6], "random_background_rate": 0.2,
        "image_network_candidates": [["tinyyolov4", "randomly_initialize"]], "max_total_time": 60,
        **changes,
    }
    # Each image gets 1 to max_foreground_images foregrounds, uniformly, as in real use.
    generation = validate_generate_config(config, replace=True)
    maker = output.composer(generation, log=lambda *args: None)
    target = tempfile.mkdtemp(dir=scratch)
    for label in generation.classes:
        os.makedirs(os.path.join(target, label))
    batches = output.examples(maker, count + BATCH, BATCH, write_under=target)
    next(batches)  # tracing and the first batch
    start_wall, start_cpu = time.time(), cpu_seconds()
    done = sum(len(batch["index"]) for batch in batches)
    wall, cpu = time.time() - start_wall, cpu_seconds() - start_cpu
    return done / wall, cpu / done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--count", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sources = make_sources(os.path.join(scratch, "sources"))
        rows = list(configurations())
        best = {name: (0.0, float("inf")) for name, _ in rows}
        for repeat in range(args.repeats):
            for name, changes in rows if repeat % 2 == 0 else rows[::-1]:
                rate, cpu = measure(sources, args.size, args.count, changes, scratch)
                best[name] = (max(best[name][0], rate), min(best[name][1], cpu))
                print("  %s: %.1f images/s" % (name, rate), flush=True)
    first = best[rows[0][0]][0]
    print("\n%dx%d, %d images per run, best of %d, %d cores" % (args.size, args.size, args.count, args.repeats, os.cpu_count()))
    print("| configuration | images/s | ratio to the first row | CPU ms per image |")
    print("|---|---|---|---|")
    for name, _ in rows:
        rate, cpu = best[name]
        print("| %s | %.1f | %.2f | %.1f |" % (name, rate, rate / first, cpu * 1000))


if __name__ == "__main__":
    main()
