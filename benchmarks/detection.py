"""Object detection benchmarks: training throughput, the box pipeline, mAP against time.

Training throughput: images/s of YOLO training steps (pyramid's own train step and loss) on
in-memory batches of the example's images with their YOLO targets, for tinyyolov4 and
yolov4 at --size (416), in float32 and mixed_bfloat16.

    python benchmarks/detection.py --throughput --size 416 --batch-size 8 --steps 6

Pipeline: images/s of the training input pipeline on the example (read, decoded and
pad-rescaled from disk for every batch, as the limit row is, augmented with every augmentation that moves boxes, boxes moved, YOLO targets
built) against the same pipeline without augmentations and bare decoding.

    python benchmarks/detection.py --pipeline --size 416

mAP against time: trains the example (examples/detection/config.json, tinyyolov4
randomly_initialize) for --max-total-time seconds with pyramid_train's own code, prints the
holdout mAP at every check, and the mAP of the written final_model.json, run by sensenet,
on the example's test split (objects and backgrounds never seen in training).

    python benchmarks/detection.py --map --max-total-time 600
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
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, CHECKOUT)  # this checkout's pyramid, wherever the script is run from
EXAMPLE = os.path.join(CHECKOUT, "examples", "detection")
BOX_AUGMENTATIONS = {"rotation": 10, "shear": 10, "zoom": 0.1, "width_shift": 0.1, "height_shift": 0.1,
                     "horizontal_flip": True, "vertical_flip": True, "deform": 0.1}


def example_config(**changes):
    with open(os.path.join(EXAMPLE, "config.json")) as stream:
        config = json.load(stream)
    config["image_root"] = os.path.join(EXAMPLE, "images")
    config.update(changes)
    return config


def machine():
    return "%d CPUs, Python %s, %s" % (os.cpu_count(), platform.python_version(), platform.machine())


# Training throughput -------------------------------------------------------------------


def throughput(topology, precision, size, batch_size, steps, output):
    from pyramid.config import validate_train_config
    from pyramid.importers import tf
    from pyramid.nets.model import BuiltModel
    from pyramid.train.data import TrainingData
    from pyramid.train.fit import training_optimizer
    from pyramid.train.run import detector_document

    config = validate_train_config(example_config(
        output_directory=output, input_image_shape=[size, size, 3], batch_size=batch_size,
        image_network_candidates=[[topology, "randomly_initialize"]], image_augmentations=[],
    ))
    data = TrainingData(config)
    document = detector_document(topology, data.objective, config)
    built = BuiltModel(document, precision)
    model = data.objective.training_model(built)
    model.compile(optimizer=training_optimizer(config, 1e-3, precision))
    batch = next(iter(data.training_batches(0, document)))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    started = time.monotonic()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.monotonic() - started)


# Pipeline ------------------------------------------------------------------------------


def pipeline_rates(size, batch_size, batches, output):
    from pyramid.config import validate_train_config
    from pyramid.data import datasets, reading
    from pyramid.importers import tf
    from pyramid.train.data import TrainingData
    from pyramid.train.run import detector_document

    rates = {}
    paths = []
    for augmentations, label in (({}, "boxes and YOLO targets, no augmentation"),
                                 (BOX_AUGMENTATIONS, "boxes and YOLO targets, every box-moving augmentation")):
        config = validate_train_config(example_config(
            output_directory=output, input_image_shape=[size, size, 3], batch_size=batch_size,
            augmentation_ranges=augmentations or {"zoom": 0}, max_data_size=0,  # from disk, as the limit
        ))
        data = TrainingData(config)
        paths = config.image_paths
        document = detector_document("tinyyolov4", data.objective, config)
        rates[label] = rate(data.training_batches(0, document), batch_size, batches)
    decoders = [reading.choose_decoder(path) for path in paths]
    decoded = tf.data.Dataset.range(len(paths)).repeat().map(
        datasets.file_reader(paths, decoders, (size, size), "pad"), num_parallel_calls=datasets.PARALLEL_CALLS
    ).batch(batch_size).prefetch(2)
    rates = {"decoding from disk and pad-rescaling only (the limit)": rate(decoded, batch_size, batches), **rates}
    return rates


def rate(dataset, batch_size, batches):
    iterator = iter(dataset)
    for _ in range(3):
        next(iterator)
    started = time.monotonic()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.monotonic() - started)


# mAP against time ----------------------------------------------------------------------


def map_against_time(max_total_time, output):
    from pyramid.config import validate_train_config
    from pyramid.train.run import train_candidates

    config = validate_train_config(example_config(output_directory=output, max_total_time=max_total_time))
    started = time.monotonic()
    result = train_candidates(config)
    wall = time.monotonic() - started
    print("\nholdout checks (seconds, iteration, mAP@0.5, mAP@0.5:0.95):")
    for check in result.checks:
        print("  %7.1f %6d  %.4f  %.4f" % (check["seconds"], check["iteration"], check["map_50"], check["map_50_95"]))
    test = test_split_metrics(os.path.join(output, "final_model.json"))
    print("\nwall time %.1f s, peak resident memory %.2f GB" % (wall, peak_rss_gb()))
    print("holdout (best check): mAP@0.5 %.4f, mAP@0.5:0.95 %.4f" % (result.metrics["map_50"], result.metrics["map_50_95"]))
    print("test split, sensenet's detections of final_model.json: mAP@0.5 %.4f, mAP@0.5:0.95 %.4f, "
          "precision %.4f, recall %.4f" % (test["map_50"], test["map_50_95"], test["precision"], test["recall"]))


def test_split_metrics(model_path):
    """COCO metrics of the model on the example's test split, as `pyramid_evaluate` scores
    them (sensenet's detections, equal to its one-image-at-a-time ones)."""
    from pyramid.evaluation import evaluate, load_points

    points, image_root = load_points(os.path.join(EXAMPLE, "test.json"), os.path.join(EXAMPLE, "images"))
    return evaluate(model_path, points, image_root)


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("--map", action="store_true")
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--topologies", default="tinyyolov4,yolov4")
    parser.add_argument("--max-total-time", type=float, default=600)
    parser.add_argument("--output", default="/tmp/pyramid_detection_benchmark")
    args = parser.parse_args()
    print("machine: %s" % machine())
    if args.throughput:
        print("\n| topology | float32 images/s | mixed_bfloat16 images/s | ratio |\n|---|---:|---:|---:|")
        for topology in args.topologies.split(","):
            rates = [throughput(topology, precision, args.size, args.batch_size, args.steps, args.output)
                     for precision in ("float32", "mixed_bfloat16")]
            print("| %s at %d | %.2f | %.2f | %.2f |" % (topology, args.size, rates[0], rates[1], rates[1] / rates[0]))
    if args.pipeline:
        rates = pipeline_rates(args.size, args.batch_size, args.batches, args.output)
        limit = next(iter(rates.values()))
        print("\n| pipeline at %d, batch %d | images/s | vs the limit |\n|---|---:|---:|" % (args.size, args.batch_size))
        for label, value in rates.items():
            print("| %s | %.0f | %.2f |" % (label, value, value / limit))
    if args.map:
        map_against_time(args.max_total_time, args.output)


if __name__ == "__main__":
    main()
