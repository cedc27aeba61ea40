"""augmentation_placement "device": the training step augments on each replica's device.

The images the network receives in each step are recorded by a layer (on two logical CPU
devices, in a subprocess: the CPU can only be split before TensorFlow starts) and compared
with what the input pipeline would have given it under "input": the same batches, the same
draws, through a switch to several steps per execution, across passes and across fits.
The tests that need two devices start a subprocess and are marked slow (`pytest -m slow`).
"""

import json
import os
import sys

import numpy as np
import pytest

from conftest import CHECKOUT, training_config, write_config
from pyramid.config import validate_train_config
from pyramid.errors import ConfigError

# Geometric and colour steps, blur between XLA-compiled stages, and noise: every kind of stage.
AUGMENTATIONS = {"zoom": 0.2, "horizontal_flip": True, "brightness": 0.3, "blur": 0.5, "gaussian_noise": 0.1}
BATCH = 8
# Fit A: passes of this many steps, switching from one to several steps per execution
# after SWITCH_AFTER steps (as `TrainingController.switch_to_several_batches` does).
STEPS_PER_PASS, PASSES, SWITCH_AFTER, SEVERAL = 4, 3, 2, 3
# Fit B: a second fit (a new optimizer and stream, as for a new set of trainable layers).
SECOND_FIT_STEPS = 3


def placement_config(image_root, output, points, **overrides):
    settings = dict(augmentation_ranges=AUGMENTATIONS, augmentation_placement="device", batch_size=BATCH,
                    precision="float32")
    settings.update(overrides)
    return training_config(image_root, output, points, **settings)


# The probe: run in a subprocess with PYRAMID_CPU_DEVICES=2 -------------------------------------


def probe(config_path, result_path, jit_compile):
    """Fit a small network whose first layer records its inputs, under the strategy of the
    machine's devices, in fit A and fit B; save what each replica saw and what the input
    placement's pipeline gives for the same steps."""
    from pyramid.config import load_train_config
    from pyramid.importers import keras, tf
    from pyramid.train import devices
    from pyramid.train.data import TrainingData
    from pyramid.train.distributed_input import Share
    from pyramid.train.step_augmentation import AugmentingTrainer

    config = load_train_config(config_path)
    data = TrainingData(config)
    strategy = devices.choose_strategy()
    replicas = strategy.num_replicas_in_sync
    height, width = config.image_shape_hw
    steps = STEPS_PER_PASS * PASSES + SECOND_FIT_STEPS
    with strategy.scope():
        recorder = Recorder(steps, (BATCH // replicas, height, width, 3))
        network = keras.Sequential([
            keras.Input((height, width, 3)), recorder, keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ])
        for stream, fit_steps, passes in ((0, STEPS_PER_PASS, PASSES), (1, SECOND_FIT_STEPS, 1)):
            trainer = AugmentingTrainer(network, data.step_augmenter(stream))
            trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss=data.objective.loss(config.loss_function),
                            steps_per_execution=1, jit_compile=jit_compile)
            switch = SwitchToSeveralSteps()
            trainer.fit(data.training_batches(stream), epochs=passes, steps_per_epoch=fit_steps,
                        callbacks=[switch] if stream == 0 else [], verbose=0)
            if stream == 0:
                executions = switch.executions
    seen = [value.numpy() for value in strategy.experimental_local_results(recorder.seen)]
    counts = [int(value.numpy()) for value in strategy.experimental_local_results(recorder.count)]

    share = Share(BATCH, replicas, 0, replicas)
    expected, plain, augmented_by_step = [], [], []
    for stream, fit_steps in ((0, STEPS_PER_PASS * PASSES), (1, SECOND_FIT_STEPS)):
        augment = data.augmenter(stream)
        unaugmented = data.augmented_batches(stream, share=share, augment=False).take(fit_steps * replicas)
        in_pipeline = data.augmented_batches(stream, share=share).take(fit_steps * replicas)
        for number, (raw, batch) in enumerate(zip(unaugmented, in_pipeline)):
            plain.append(raw["image"].numpy())
            expected.append(batch["image"].numpy())
            augmented_by_step.append(augment(raw["image"], number).numpy())
    # Per-replica batches of the pipeline come in replica order within a step: regroup them
    # as [replica][step] like `seen`.
    regroup = lambda batches: [np.stack(batches[r::replicas]) for r in range(replicas)]  # noqa: E731
    np.savez(result_path, replicas=replicas, counts=counts, executions=executions, seen=np.stack(seen), input=np.stack(regroup(expected)),
             plain=np.stack(regroup(plain)), augmenter=np.stack(regroup(augmented_by_step)))


def recorder_class():
    from pyramid.importers import keras, tf

    class Recorder(keras.layers.Layer):
        """Passes its input on; in training, also keeps it, per replica, as step `count`."""

        def __init__(self, steps, shape):
            super().__init__()
            per_replica = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                               aggregation=tf.VariableAggregation.SUM)
            self.seen = self.add_weight("seen", (steps, *shape), initializer="zeros", **per_replica)
            self.count = self.add_weight("count", (), dtype=tf.int32, initializer="zeros", **per_replica)

        def call(self, images, training=False):
            if not training:
                return images
            kept = tf.tensor_scatter_nd_update(self.seen, [[self.count]], images[None])
            with tf.control_dependencies([self.seen.assign(kept)]):
                with tf.control_dependencies([self.count.assign_add(1)]):
                    return tf.identity(images)

    return Recorder


def switch_class():
    from pyramid.importers import keras

    class SwitchToSeveralSteps(keras.callbacks.Callback):
        """After SWITCH_AFTER steps, the several-step execution, as the training controller
        switches to it; Keras shortens the last execution of each pass."""

        executions = 0

        def on_train_batch_end(self, batch, logs=None):
            self.executions += 1
            if batch + 1 == SWITCH_AFTER and self.model.steps_per_execution.numpy() == 1:
                self.model.steps_per_execution.assign(SEVERAL)
                self.model.train_function = self.model.make_train_function(force=True)

    return SwitchToSeveralSteps


def run_probe(digits_dir, tmp_path, jit_compile=False):
    import subprocess

    image_root, points = digits_dir
    config = placement_config(image_root, str(tmp_path / "out"), points[:60])
    config_path = write_config(tmp_path / "config.json", config)
    result_path = str(tmp_path / "probe.npz")
    finished = subprocess.run(
        [sys.executable, __file__, config_path, result_path, json.dumps(jit_compile)],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=CHECKOUT, PYRAMID_CPU_DEVICES="2"),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return dict(np.load(result_path))


# Tests ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probed(digits_dir, tmp_path_factory):
    return run_probe(digits_dir, tmp_path_factory.mktemp("probe"))


@pytest.mark.slow  # a subprocess of two logical devices: 25-30 s
def test_each_replica_sees_its_batch_augmented_as_numbered_in_the_stream(probed):
    steps = STEPS_PER_PASS * PASSES + SECOND_FIT_STEPS
    assert probed["replicas"] == 2
    # Every step of both fits ran on both replicas, one recording each.
    assert list(probed["counts"]) == [steps, steps]
    # Fit A switched to several steps per execution after its first SWITCH_AFTER steps.
    assert SWITCH_AFTER < probed["executions"] < STEPS_PER_PASS * PASSES - SWITCH_AFTER
    seen, plain = probed["seen"], probed["plain"]
    assert seen.shape == plain.shape == (2, steps, BATCH // 2, 16, 16, 3)
    # Augmented: no step's images are those the pipeline read ...
    for replica in range(2):
        for step in range(steps):
            assert np.abs(seen[replica, step] - plain[replica, step]).max() > 10, (replica, step)
    # ... and each is the Augmenter's output for batch number step * 2 + replica of its stream.
    np.testing.assert_allclose(seen, probed["augmenter"], atol=1e-3, rtol=0)


@pytest.mark.slow  # a subprocess of two logical devices: 25-30 s
def test_the_step_sees_what_the_input_placement_gives_the_same_seed(probed):
    # The input pipeline's batches (NumberedAugmenter) for the same steps, through the switch
    # to several steps per execution, over three passes and into a second fit.
    np.testing.assert_allclose(probed["seen"], probed["input"], atol=1e-3, rtol=0)


@pytest.mark.slow  # a subprocess of two logical devices: 25-30 s
def test_a_two_replica_run_writes_a_model_that_never_augments(digits_dir, tmp_path):
    """pyramid_train with "device" on two logical CPU devices: it trains, and neither the
    written model nor the holdout predictions augment (sensenet, which never augments,
    predicts the holdout files as pyramid reported)."""
    from pyramid.nets import topologies
    from test_commands import run
    from test_devices import assert_sensenet_agrees

    image_root, points = digits_dir
    output = str(tmp_path / "out")
    config = placement_config(image_root, output, points, max_iterations=30)
    finished = run(["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)],
                   env={"PYRAMID_CPU_DEVICES": "2"})
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Training on 2 replicas (device:CPU:0, device:CPU:1)" in finished.stdout
    final = assert_sensenet_agrees(image_root, output)
    assert final["iterations"] == 30
    # The options are recorded; the network sensenet builds has no augmentation in it.
    assert final["training_options"]["augmentation_placement"] == "device"
    assert "augment" not in json.dumps([final["preprocess"], final["image_network"], final["layers"]])
    network = topologies.image_network("simple", (16, 16), "crop")
    assert [layer["type"] for layer in final["image_network"]["layers"]] == [
        layer["type"] for layer in network["layers"]]


def test_one_device_trains_with_the_step_augmenting(digits_dir, tmp_path):
    from test_devices import assert_sensenet_agrees
    from test_training import train

    image_root, points = digits_dir
    output = str(tmp_path / "out")
    result = train(placement_config(image_root, output, points, max_iterations=40))
    assert result.iterations == 40
    assert_sensenet_agrees(image_root, output)


def test_device_placement_is_refused_for_object_detection(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    config = {
        "image_root": str(tmp_path), "output_directory": str(tmp_path / "out"),
        "input_image_shape": [32, 32, 3], "image_network_candidates": [["tinyyolov4", "randomly_initialize"]],
        "max_total_time": 10, "training_data": [{"file": "a.png", "boxes": [[1, 1, 9, 9, "cat"]]}],
        "augmentation_placement": "device",
    }
    with pytest.raises(ConfigError) as raised:
        validate_train_config(config)
    message = str(raised.value)
    assert message.startswith('augmentation_placement: "device" is not allowed for object detection')
    assert 'use "input"' in message
    # "input" (the default) is fine for detection.
    assert validate_train_config(dict(config, augmentation_placement="input")).augmentation_placement == "input"


def test_placement_values_are_checked(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = validate_train_config(training_config(image_root, str(tmp_path), points))
    assert config.augmentation_placement == "input"
    with pytest.raises(ConfigError) as raised:
        validate_train_config(training_config(image_root, str(tmp_path), points, augmentation_placement="gpu"))
    assert str(raised.value).startswith('augmentation_placement: "gpu" is not allowed')
    assert "input" in str(raised.value) and "device" in str(raised.value)


def test_device_placement_is_refused_with_xla_and_blur(digits_dir, tmp_path):
    image_root, points = digits_dir
    with pytest.raises(ConfigError) as raised:
        validate_train_config(placement_config(image_root, str(tmp_path), points, jit_compile=True))
    assert str(raised.value).startswith(
        'augmentation_placement: "device" is not allowed with jit_compile true and the blur augmentation')
    without_blur = {name: n for name, n in AUGMENTATIONS.items() if name != "blur"}
    config = placement_config(image_root, str(tmp_path), points, jit_compile=True, augmentation_ranges=without_blur)
    assert validate_train_config(config).augmentation_placement == "device"


def test_the_augmenter_draws_the_same_compiled_by_xla():
    """An XLA-compiled training step (jit_compile) augments as the input pipeline does."""
    from pyramid.augment.augmenter import Augmenter
    from pyramid.importers import tf

    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)), tf.float32)
    everything_but_blur = {"rotation": 10, "shear": 10, "zoom": 0.2, "width_shift": 0.1, "deform": 0.1,
                           "horizontal_flip": True, "brightness": 0.3, "contrast": 0.2, "tint": 0.2,
                           "color_invert": True, "gaussian_noise": 0.1, "cutout": 0.25, "glare": 0.1}
    augment = Augmenter(everything_but_blur, 42)
    compiled = tf.function(lambda pixels, number: augment(pixels, number), jit_compile=True)
    for number in range(3):
        plain = augment(images, tf.constant(number, tf.int64)).numpy()
        assert np.abs(plain - images.numpy()).max() > 10
        np.testing.assert_allclose(compiled(images, tf.constant(number, tf.int64)).numpy(), plain, atol=1e-3, rtol=0)


if __name__ == "__main__":
    Recorder, SwitchToSeveralSteps = recorder_class(), switch_class()
    probe(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
