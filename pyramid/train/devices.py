"""Where training runs: the tf.distribute strategy and the numeric precision.

- several GPUs: MirroredStrategy over all of them (`batch_size` is the global batch, split
  evenly over the replicas, each of which sees different images);
- `PYRAMID_CPU_DEVICES=N` (N >= 2): the CPU split into N logical devices, mirrored the same
  way; this is how the distributed path is tested without GPUs;
- `TF_CONFIG` naming a cluster (several machines, one pyramid_train each, same config):
  MultiWorkerMirroredStrategy over all of them; the workers agree on every decision (see
  `Agreement`) and only the chief (the "chief" task, else worker 0) writes results;
- otherwise TensorFlow's default strategy on the one device.
Under the first three, each worker's input pipeline reads only its replicas' share of every
global batch (`pyramid.train.distributed_input`).

Precision "auto" picks, per network, mixed_float16 when every GPU is of compute capability
7.0 or more (where float16 runs fast). Without GPUs it picks mixed_bfloat16 when the CPU has
bfloat16 instructions (AVX512_BF16 or AMX) and the network has no depthwise convolutions,
and float32 otherwise: measured here (benchmarks/train.py, 32x32), bfloat16 trains `simple`
2.7 times and `simple_residual` 1.6 times faster and resnet18 as fast, but mobilenet at
0.77 and mobilenetv2 at 0.5 times the float32 speed (TensorFlow's CPU depthwise convolutions
have no fast bfloat16 kernels).
"""

from pyramid import importers
from pyramid.importers import tf

FAST_FLOAT16_CAPABILITY = (7, 0)
BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


def choose_strategy():
    if importers.MULTI_WORKER_STRATEGY is not None:
        return importers.MULTI_WORKER_STRATEGY
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        # NCCL needs real GPUs; logical CPU devices reduce through one device.
        return tf.distribute.MirroredStrategy(
            [device.name for device in cpus], cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return tf.distribute.get_strategy()


def choose_precision(requested, document):
    """The precision to train the network of sensenet `document` in."""
    if requested != "auto":
        return requested
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        fast = all(compute_capability(gpu) >= FAST_FLOAT16_CAPABILITY for gpu in gpus)
        return "mixed_float16" if fast else "float32"
    layers = document["image_network"]["layers"]
    depthwise = any(layer["type"] == "depthwise_convolution_2d" for layer in layers)
    return "mixed_bfloat16" if cpu_has_bfloat16() and not depthwise else "float32"


def cpu_has_bfloat16():
    try:
        with open("/proc/cpuinfo") as stream:
            flags = set(stream.read().split())
    except OSError:
        return False
    return bool(flags & BFLOAT16_CPU_FLAGS)


def compute_capability(gpu):
    return tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))


def describe(strategy):
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return "1 replica"
    devices = ", ".join(device.rsplit("/", 1)[-1] for device in strategy.extended.worker_devices)
    return "%d replicas (%s)" % (replicas, devices)


def is_chief():
    """Whether this process writes the results (on one machine, always)."""
    cluster = importers.CLUSTER
    if cluster is None:
        return True
    task = cluster.get("task", {})
    if "chief" in cluster["cluster"]:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index", 0) == 0


class Agreement:
    """Makes the workers of a cluster take the same decisions.

    Decisions that depend on a worker's clock (stop now, check the holdout now, how many
    batches the next execution runs) or on its float arithmetic (is this check better) could
    differ between workers, and a worker that stops or checks alone leaves the others waiting
    for it forever in a collective. Each decision is therefore averaged over the cluster, in
    one collective (whose result every worker receives the same). On one machine this does
    nothing.
    """

    def __init__(self):
        strategy = importers.MULTI_WORKER_STRATEGY
        self.active = strategy is not None
        if self.active:

            @tf.function
            def mean(values):
                each = strategy.run(lambda: tf.identity(values))
                return strategy.reduce(tf.distribute.ReduceOp.MEAN, each, axis=None)

            self._mean = mean

    def decide(self, flags, numbers):
        """(each flag True when it is True on any worker, each number's mean over the workers)."""
        if not self.active:
            return tuple(flags), tuple(numbers)
        values = [float(flag) for flag in flags] + [float(number) for number in numbers]
        agreed = self._mean(tf.constant(values, dtype=tf.float32)).numpy()
        return tuple(bool(value > 0) for value in agreed[: len(flags)]), tuple(float(v) for v in agreed[len(flags):])

    def any(self, *flags):
        """Each flag, True when it is True on any worker."""
        decided, _ = self.decide(flags, ())
        return decided if len(flags) > 1 else decided[0]

    def chief(self, flag):
        """The chief's value of `flag`, on every worker."""
        return self.any(bool(flag) and is_chief()) if self.active else flag
