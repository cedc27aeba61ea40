"""A lasting worker: N image_training jobs in one `pyramid` process, its memory and job times.

BigML's backend keeps one worker for many jobs, so memory must not grow and jobs must not slow
down from one to the next. This runs the real `pyramid` process on N identical image_training
jobs (a `.ser` cache of real-photo crops from benchmarks/make_images.py, a fixed number of
iterations each, so every job does the same work) and prints, after jobs 1, 5, 10, ... N, the
worker's resident memory (VmRSS, and VmHWM, its peak so far) and the job's own time, then a
verdict: growth from job 5 to job N, and the spread of the job times.

    python benchmarks/worker.py --jobs 50 --images 200 --size 64
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

from pyramid.worker.cache import Rows, Schema, write_ser  # noqa: E402


def make_workflow(directory, images, size, iterations):
    """A `.ser` cache of `images` labelled photo crops and the image_training document."""
    image_root = os.path.join(directory, "images")
    subprocess.run([sys.executable, os.path.join(HERE, "make_images.py"), "--output", image_root,
                    "--count", str(images)], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(image_root, "training_data.json")) as stream:
        points = json.load(stream)
    classes = sorted({point["label"] for point in points})
    info_list = [{"index": 0, "type": "image"}, {"index": 1, "type": "categorical", "values": classes}]
    rows = Rows([[point["file"] for point in points]], None,
                np.array([classes.index(point["label"]) for point in points], dtype=np.float64))
    cache_file = os.path.join(directory, "images.ser")
    write_ser(cache_file, Schema(info_list), rows)
    document = {
        "job_id": "lasting", "job_type": "image_training", "objective_type": "categorical",
        "info_list": info_list, "cache_file": cache_file, "cache_rows": len(points),
        "image_root": image_root, "input_image_shape": [size, size, 3],
        "base_image_network": "simple", "image_training_type": "randomly_initialize",
        "layers": [{"type": "dense", "number_of_nodes": len(classes), "activation_function": "softmax",
                    "weights": "glorot_uniform", "offset": "zeros", "seed": 0}],
        "image_augmentations": ["brightness", "zoom", "horizontal_flip"],
        "max_data_size": 2**30, "batch_size": 32, "learning_rate": 0.001, "descent_algorithm": "adam",
        "loss_function": "crossentropy", "output_directory": os.path.join(directory, "output"),
        "seed": 7, "max_iterations": iterations, "return_holdout_images": True,
    }
    path = os.path.join(directory, "job.json")
    with open(path, "w") as stream:
        json.dump(document, stream)
    return path


def memory_mb(pid):
    """(VmRSS, VmHWM) of a process in MB."""
    values = {}
    with open("/proc/%d/status" % pid) as stream:
        for line in stream:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def run_jobs(job, count):
    worker = subprocess.Popen([sys.executable, "-m", "pyramid.commands.worker", "600"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)))
    assert worker.stdout.readline().startswith("pyramid process ready")
    rows = []
    for number in range(1, count + 1):
        worker.stdin.write(job + "\n")
        worker.stdin.flush()
        while True:
            line = worker.stdout.readline()
            if line.startswith("pyramid job complete - "):
                result = json.loads(line.split(" - ", 1)[1])
                break
        if "error" in result:
            raise SystemExit("job %d failed: %s" % (number, result["error"]))
        rss, peak = memory_mb(worker.pid)
        rows.append((number, rss, peak, result["job_time"], result["validation_metrics"]["accuracy"]))
        print("job %3d  rss %7.1f MB  peak %7.1f MB  %6.2f s  accuracy %.4f" % rows[-1], flush=True)
    worker.stdin.write("terminate\n")
    worker.stdin.close()
    worker.wait(timeout=60)
    return rows


def report(rows):
    shown = [row for row in rows if row[0] in (1, 5) or row[0] % 10 == 0 or row[0] == rows[-1][0]]
    print("\n| job | resident MB | peak MB | job time s | holdout accuracy |")
    print("|---|---|---|---|---|")
    for number, rss, peak, seconds, accuracy in shown:
        print("| %d | %.1f | %.1f | %.2f | %.4f |" % (number, rss, peak, seconds, accuracy))
    if len(rows) >= 5:
        later = [row[3] for row in rows[4:]]
        print("\nresident memory, job 5 to job %d: %+.1f MB" % (rows[-1][0], rows[-1][1] - rows[4][1]))
        print("job time, jobs 5-%d: median %.2f s, min %.2f, max %.2f"
              % (rows[-1][0], np.median(later), min(later), max(later)))
    accuracies = {row[4] for row in rows}
    print("the same document gave %s" % ("the same accuracy every time" if len(accuracies) == 1
                                         else "%d different accuracies" % len(accuracies)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        job = make_workflow(directory, args.images, args.size, args.iterations)
        started = time.monotonic()
        rows = run_jobs(job, args.jobs)
        print("\n%d jobs in %.0f s (%d images of %dx%d, %d iterations a job)"
              % (args.jobs, time.monotonic() - started, args.images, args.size, args.size, args.iterations))
        report(rows)


if __name__ == "__main__":
    main()
