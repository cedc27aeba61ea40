"""The one place that imports TensorFlow, so that its environment is set first.

sensenet builds tf-keras (Keras 2) models, so `TF_USE_LEGACY_KERAS` must be set before
TensorFlow is imported anywhere; every pyramid module gets TensorFlow from here.

TensorFlow 2.21's C++ libraries log to stderr while they load, before any log-level setting
is read (`TF_CPP_MIN_LOG_LEVEL` does not silence them). Those lines would bury pyramid's own
one-line errors, so stderr is closed at the file-descriptor level while TensorFlow loads and
finds its devices. Set `PYRAMID_TF_LOGS=1` to see them (e.g. to debug a GPU setup).
"""

import contextlib
import json
import logging
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def quiet_stderr():
    if os.environ.get("PYRAMID_TF_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cluster_config():
    """TF_CONFIG as a dict when it names a cluster of two or more tasks, else None."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return None
    tasks = sum(len(addresses) for addresses in config.get("cluster", {}).values())
    return config if tasks > 1 else None


def split_cpu(count):
    """Make the CPU N logical devices (before TensorFlow initialises its devices)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


with quiet_stderr():
    import tensorflow as tf

    # MultiWorkerMirroredStrategy configures TensorFlow's collective ops, which is only
    # possible before TensorFlow runs anything: it is made here, when TF_CONFIG names a cluster.
    CLUSTER = cluster_config()
    MULTI_WORKER_STRATEGY = tf.distribute.MultiWorkerMirroredStrategy() if CLUSTER else None
    # PYRAMID_CPU_DEVICES=N splits the CPU into N devices, so that distributed training runs
    # (and is tested) on a machine without GPUs.
    if int(os.environ.get("PYRAMID_CPU_DEVICES") or 1) > 1:
        split_cpu(int(os.environ["PYRAMID_CPU_DEVICES"]))
    tf.config.list_physical_devices()
    import sensenet.importers  # noqa: F401  (loads sensenet's tree op)

logging.getLogger("tensorflow").setLevel(logging.ERROR)
keras = tf.keras

__all__ = ["tf", "keras"]
