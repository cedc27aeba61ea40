"""Training input under several replicas: Keras' plain dataset against pyramid's per-worker shares.

For each topology of replicas (one process; one process with the CPU split into two devices,
MirroredStrategy; two worker processes on localhost, MultiWorkerMirroredStrategy), trains
`simple` on pyramid's real training batches (images streamed from disk, max_data_size 0,
decoded and augmented in every step) two ways:
- plain: the pipeline's global batches given to Keras' fit as a dataset (Keras splits them
  over the replicas; under several workers it shards them by data: every worker makes the
  whole global batch and keeps its part);
- shares: `TrainingData.training_batches`, each worker's pipeline reading only its share
  (`pyramid.train.distributed_input`).
It reports the training images/s of the steps (from the end of the first to the end of the
last), the seconds `fit` then took to return (ending a distributed iterator sometimes waits
for up to 20 s here, whichever input), and the images each process's pipeline read (the
counter inside the pipeline, `TrainingData.images_read`). The settings run back to back in
one invocation, so their ratios compare like with like on a shared machine.

    python benchmarks/make_images.py --output /tmp/bench_images --count 128
    python benchmarks/distributed_input.py --image-root /tmp/bench_images \\
        --training-data /tmp/bench_images/training_data.json --size 96 --steps 60
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, CHECKOUT)  # this checkout's pyramid, wherever the script is run from
WARMUP_STEPS = 5
TOPOLOGIES = (("1 process", 1, 1), ("1 process, 2 devices", 1, 2), ("2 workers", 2, 1))


def config_for(args, output):
    with open(args.training_data) as stream:
        training_data = json.load(stream)
    return {
        "image_root": args.image_root, "output_directory": output, "training_data": training_data,
        "input_image_shape": [args.size, args.size, 3], "batch_size": args.batch_size,
        "image_network_candidates": [["simple", "randomly_initialize"]], "precision": "float32",
        "max_total_time": 600, "max_data_size": 0, "image_augmentations": ["zoom", "brightness", "horizontal_flip"],
    }


def measure(config_path, path, steps):
    """(training images/s, seconds `fit` took to return after its last step, images this
    process's pipeline read) of `steps` steps."""
    from pyramid.config import validate_train_config
    from pyramid.importers import keras
    from pyramid.train import devices
    from pyramid.train.data import TrainingData
    from pyramid.train.run import build_candidate

    with open(config_path) as stream:
        config = validate_train_config(json.load(stream))
    data = TrainingData(config)
    strategy = devices.choose_strategy()
    with strategy.scope():
        built = build_candidate("simple", "randomly_initialize", data, config)
        model = data.objective.training_model(built)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=data.objective.loss(config.loss_function))
        if path == "plain":
            batches = data.augmented_batches(0, data.images_read.counting(data.objective.keras_batches(built.document)))
        else:
            batches = data.training_batches(0, built.document)
        model.fit(batches, steps_per_epoch=WARMUP_STEPS, epochs=1, verbose=0)
        read_before = data.images_read.total()
        clock = step_clock()
        model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
        returned = time.monotonic()
    return clock.rate(config.batch_size), returned - clock.ends[-1], data.images_read.total() - read_before


def step_clock():
    from pyramid.importers import keras

    class StepClock(keras.callbacks.Callback):
        """The ends of the steps: the rate is timed from the end of the first to the end of
        the last, without the start of `fit` nor its end (ending a distributed iterator
        sometimes waits up to 20 s here: measured apart)."""

        def on_train_batch_end(self, batch, logs=None):
            self.ends = getattr(self, "ends", []) + [time.monotonic()]

        def rate(self, batch_size):
            return (len(self.ends) - 1) * batch_size / (self.ends[-1] - self.ends[0])

    return StepClock()


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def run_topology(config_path, path, steps, workers, devices):
    """[(images/s, seconds fit took to end after the last step, images read)] of each
    process of one topology."""
    command = [sys.executable, __file__, "--measure", config_path, "--path", path, "--steps", str(steps)]
    environment = dict(os.environ, PYTHONPATH=CHECKOUT, PYRAMID_CPU_DEVICES=str(devices))
    environment.pop("TF_CONFIG", None)
    if workers > 1:
        cluster = {"worker": ["localhost:%d" % port for port in free_ports(workers)]}
    processes = []
    for index in range(workers):
        if workers > 1:
            environment = dict(environment, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(stderr[-3000:])
        rate, tail, read = stdout.strip().splitlines()[-1].split()
        results.append((float(rate), float(tail), int(read)))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-root")
    parser.add_argument("--training-data")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--topologies", default="0,1,2", help="indices into: " + "; ".join(t[0] for t in TOPOLOGIES))
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every setting, interleaved")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        rate, tail, read = measure(args.measure, args.path, args.steps)
        print(rate, tail, read)
        return

    with tempfile.TemporaryDirectory() as scratch:
        config_path = os.path.join(scratch, "config.json")
        with open(config_path, "w") as stream:
            json.dump(config_for(args, os.path.join(scratch, "out")), stream)
        trained = args.steps * args.batch_size
        print("input %dx%d from disk, batch %d, %d timed steps (%d images trained on), %d CPUs"
              % (args.size, args.size, args.batch_size, args.steps, trained, os.cpu_count()))
        header = "%-22s %-7s %10s %10s %30s" % ("replicas", "input", "images/s", "end wait s", "images read per process (/trained)")
        print(header)
        print("-" * len(header))
        chosen = [TOPOLOGIES[int(index)] for index in args.topologies.split(",")]
        for label, workers, devices in chosen * args.repeat:
            for path in ("plain", "shares"):
                results = run_topology(config_path, path, args.steps, workers, devices)
                reads = " / ".join("%d (%.2f)" % (read, read / trained) for _, _, read in results)
                tail = max(result[1] for result in results)
                print("%-22s %-7s %10.0f %10.1f %30s" % (label, path, results[0][0], tail, reads), flush=True)


if __name__ == "__main__":
    main()
