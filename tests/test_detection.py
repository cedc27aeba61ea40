"""Object detection end to end: config, pipeline boxes, YOLO training, and sensenet's
detections of the written model equal pyramid's own."""

import copy
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import CHECKOUT
from pyramid.config import validate_train_config
from pyramid.data import reading
from pyramid.detection.decode import detections
from pyramid.errors import ConfigError
from pyramid.nets.model import BuiltModel
from pyramid.train.data import TrainingData
from pyramid.train.run import train_candidates

EXAMPLE = os.path.join(CHECKOUT, "examples", "detection")
SIZE = 64


def example_config(output, count=40, **changes):
    with open(os.path.join(EXAMPLE, "config.json")) as stream:
        config = json.load(stream)
    config.update(
        image_root=os.path.join(EXAMPLE, "images"), output_directory=str(output),
        training_data=config["training_data"][:count], input_image_shape=[SIZE, SIZE, 3],
        max_total_time=120, max_seconds_per_update=2,
    )
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tinyyolov4 trained a few dozen steps on 40 example images at 64x64."""
    output = tmp_path_factory.mktemp("detector")
    result = train_candidates(validate_train_config(example_config(output, max_iterations=40)))
    return output, result


def read(output, name):
    with open(os.path.join(str(output), name)) as stream:
        return json.load(stream)


def test_the_written_detector_is_sensenets(trained):
    output, result = trained
    final = read(output, "final_model.json")
    metadata = final["image_network"]["metadata"]
    assert final["output_exposition"] == {"type": "bounding_box", "values": ["animal", "face", "fruit", "vehicle"]}
    assert final["layers"] == [] and metadata["rescale_type"] == "pad"
    assert metadata["input_image_shape"] == [SIZE, SIZE, 3]
    assert [len(branch["anchors"]) for branch in metadata["outputs"]] == [3, 3]
    for branch in metadata["outputs"]:
        head = final["image_network"]["layers"][branch["input"]]
        assert np.array(head["kernel"]).shape[-1] == 3 * (5 + 4)
    assert result.iterations == 40
    assert set(result.metrics) == {"map_50", "map_50_95", "precision", "recall"}
    assert all(0 <= value <= 1 for value in result.metrics.values())


# (score threshold, IoU threshold, fewest detections over the holdout): the barely trained
# network may find nothing at sensenet's default 0.5, and how many it finds just above 0.05
# hangs on float rounding in its 40 steps (the per-axis zoom and flip left none there).
@pytest.mark.parametrize("score, iou, fewest", [(0.5, 0.5, 0), (0.02, 0.3, 1), (0.005, 0.6, 1)])
def test_sensenet_detects_what_pyramid_detects(trained, score, iou, fewest):
    from sensenet.models.wrappers import create_model

    output, _ = trained
    final = read(output, "final_model.json")
    branches = final["image_network"]["metadata"]["outputs"]
    classes = final["output_exposition"]["values"]
    ours_model = BuiltModel({key: final[key] for key in ("preprocess", "output_exposition", "layers", "trees", "image_network")})
    theirs_model = create_model(final, {"bounding_box_threshold": score, "iou_threshold": iou})
    found = 0
    for point in read(output, "holdout_predictions.json"):
        path = os.path.join(EXAMPLE, "images", point["file"])
        pixels = reading.read_image(path, (SIZE, SIZE), "pad")[None]
        raw = ours_model.keras_model.predict(pixels, verbose=0)
        info = reading.inspect_image(path)
        ours = detections(raw, branches, SIZE, len(classes), (info.height, info.width), score, iou)
        theirs = theirs_model(path)
        assert len(ours) == len(theirs)
        for mine, sensenets in zip(ours, theirs):
            assert classes[mine["class"]] == sensenets["label"]
            np.testing.assert_allclose(mine["box"], sensenets["box"], atol=0.5)
            assert mine["score"] == pytest.approx(sensenets["score"], abs=1e-5)
        found += len(ours)
    assert found >= fewest


def test_holdout_predictions_are_boxes_in_the_images_pixels(trained):
    from sensenet.models.wrappers import create_model

    output, _ = trained
    predictions = read(output, "holdout_predictions.json")
    final = read(output, "final_model.json")
    sensenet = create_model(final)
    assert len(predictions) == 8  # 20% of 40
    with open(os.path.join(EXAMPLE, "config.json")) as stream:
        given = {point["file"]: point["boxes"] for point in json.load(stream)["training_data"]}
    for point in predictions:
        assert point["label"] == given[point["file"]]
        expected = sensenet(os.path.join(EXAMPLE, "images", point["file"]))
        assert [(p["box"], p["label"]) for p in point["prediction"]] == [(e["box"], e["label"]) for e in expected]


def drawn_boxes(directory, count=12, size=96):
    """Images with one bright rectangle on a dark ground, and its box."""
    rng = np.random.default_rng(5)
    points = []
    for index in range(count):
        pixels = np.full((size, size, 3), 20, np.uint8)
        x1, y1 = rng.integers(20, 40, 2)
        x2, y2 = x1 + rng.integers(20, 36), y1 + rng.integers(20, 36)
        pixels[y1:y2, x1:x2] = 230
        name = "r%02d.png" % index
        Image.fromarray(pixels).save(os.path.join(directory, name))
        points.append({"file": name, "boxes": [[int(x1), int(y1), int(x2), int(y2), "block"]]})
    return points


def test_augmentations_move_the_boxes_with_the_pixels(tmp_path):
    points = drawn_boxes(str(tmp_path))
    config = validate_train_config({
        "image_root": str(tmp_path), "output_directory": str(tmp_path / "out"), "training_data": points,
        "input_image_shape": [64, 64, 3], "image_network_candidates": [["tinyyolov4", "randomly_initialize"]],
        "max_total_time": 10, "batch_size": 12,
        "augmentation_ranges": {"rotation": 30, "shear": 15, "zoom": 0.2, "width_shift": 0.1,
                                "height_shift": 0.1, "horizontal_flip": True, "vertical_flip": True,
                                "deform": 0.2},
    })
    data = TrainingData(config)
    checked = 0
    for batch in data.augmented_batches().take(4):
        for image, boxes, count in zip(batch["image"].numpy(), batch["boxes"].numpy(), batch["count"].numpy()):
            assert count == 1
            rows, columns = np.nonzero(image.mean(axis=-1) > 125)
            bright = [columns.min(), rows.min(), columns.max() + 1, rows.max() + 1]
            assert iou(bright, boxes[0][:4]) > 0.75
            checked += 1
    assert checked == 48


def iou(a, b):
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_boxes_are_scaled_as_sensenet_pads_the_image(tmp_path):
    # A 96x48 image padded into 64x64: scale 64 / 96 for both axes.
    Image.new("RGB", (96, 48), (10, 10, 10)).save(tmp_path / "wide.png")
    points = [{"file": "wide.png", "boxes": [[12, 6, 60, 42, "thing"], [90, 40, 120, 47, "thing"]]}] * 4
    base = {
        "image_root": str(tmp_path), "output_directory": str(tmp_path / "out"), "training_data": points,
        "input_image_shape": [64, 64, 3], "image_network_candidates": [["tinyyolov4", "randomly_initialize"]],
        "max_total_time": 10,
    }
    data = TrainingData(validate_train_config(base))
    np.testing.assert_allclose(data.row_values["boxes"][0][0], [8, 4, 40, 28, 0])
    # The second box's centre (105, 43.5) is outside the 96-pixel-wide image: left out.
    assert data.row_values["count"].tolist() == [1, 1, 1, 1] and data.objective.dropped == 4
    assert data.describe().endswith("; 4 boxes left out (their centre is outside their image)")
    with pytest.raises(ConfigError, match=r"training_data\[0\].boxes\[1\]: .* has its centre outside the 96x48 image"):
        TrainingData(validate_train_config(dict(base, strict_boxes=True)))


def test_fine_tune_loads_the_body_and_sizes_new_heads(tmp_path):
    """Weights written by sensenet for its 80-class COCO tinyyolov4: every layer but the heads
    is loaded; the heads, sized for these classes, start fresh."""
    from sensenet.models.image import image_model
    from sensenet.pretrained import PRETRAINED_CNN_METADATA

    from pyramid.nets import pretrained

    network = copy.deepcopy(PRETRAINED_CNN_METADATA["tinyyolov4"])
    network["image_network"]["metadata"]["input_image_shape"] = [SIZE, SIZE, 3]
    for index, layer in enumerate(network["image_network"]["layers"]):
        layer["seed"] = index + 1
    version = network["image_network"]["metadata"]["version"]
    path = str(tmp_path / ("tinyyolov4_weights_%s.h5" % version))
    image_model(network, None).save_weights(path)

    config = validate_train_config(example_config(
        tmp_path / "out", image_network_candidates=[["tinyyolov4", "fine_tune"]],
        pretrained_weights_directory=str(tmp_path), max_iterations=2,
    ))
    train_candidates(config)
    final = read(tmp_path / "out", "final_model.json")
    layers = final["image_network"]["layers"]
    heads = [branch["input"] for branch in final["image_network"]["metadata"]["outputs"]]
    stored = [weights[0] for name, weights in pretrained.stored_layer_weights(path) if name.startswith("conv2d")]
    kernels = [np.array(layer["kernel"], np.float32) for index, layer in enumerate(layers)
               if layer["type"] == "convolution_2d" and index not in heads]
    assert len(kernels) == len(stored) - 2
    for ours, theirs in zip(kernels, stored):
        np.testing.assert_array_equal(ours, theirs)  # phase 1 trains the heads only
    assert [np.array(layers[head]["kernel"]).shape[-1] for head in heads] == [27, 27]


def test_visualize_draws_the_moved_boxes(tmp_path):
    from pyramid.train.visualize import BOX_COLOUR, write_contact_sheets

    points = drawn_boxes(str(tmp_path))
    config = validate_train_config({
        "image_root": str(tmp_path), "output_directory": str(tmp_path / "out"), "training_data": points,
        "input_image_shape": [64, 64, 3], "image_network_candidates": [["tinyyolov4", "randomly_initialize"]],
        "max_total_time": 10, "batch_size": 4, "image_augmentations": ["rotation", "horizontal_flip"],
    })
    paths = write_contact_sheets(config, 1, log=lambda line: None)
    sheet = np.asarray(Image.open(paths[0]).convert("RGB"))
    outlined = np.all(sheet == BOX_COLOUR, axis=-1)
    # Four tiles, each with a box outline (2 pixels wide) around its rectangle.
    assert outlined.sum() > 4 * 2 * 60


# float16 is slow on CPUs (a minute here): run on purpose with -m slow.
@pytest.mark.parametrize("precision", ["mixed_bfloat16", pytest.param("mixed_float16", marks=pytest.mark.slow)])
def test_detectors_train_in_mixed_precision_and_stay_float32_outside(tmp_path, precision):
    output = tmp_path / "out"
    result = train_candidates(validate_train_config(example_config(output, count=24, max_iterations=6, precision=precision)))
    assert result.iterations == 6 and result.checks
    for check in result.checks:
        assert all(0 <= check[key] <= 1 for key in ("map_50", "map_50_95", "precision", "recall"))
    final = read(output, "final_model.json")
    head = final["image_network"]["layers"][final["image_network"]["metadata"]["outputs"][0]["input"]]
    assert np.all(np.isfinite(np.array(head["kernel"])))


@pytest.mark.slow  # 64 s; the default run trains classifiers on two replicas (test_devices)
def test_a_detector_trains_on_two_replicas(tmp_path):
    from test_commands import run

    config = example_config(tmp_path / "out", count=24, max_iterations=6, batch_size=8)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    finished = run(["-m", "pyramid.commands.train", str(path)], env={"PYRAMID_CPU_DEVICES": "2"})
    assert finished.returncode == 0, finished.stderr
    assert "Training on 2 replicas" in finished.stdout
    assert read(tmp_path / "out", "final_model.json")["iterations"] == 6


@pytest.mark.slow  # 40 s; the default run continues classifiers from initial models
def test_a_detector_continues_from_its_initial_model(trained, tmp_path):
    output, earlier = trained
    config = example_config(tmp_path / "again", max_iterations=2,
                            image_network_candidates=[["initial_model", os.path.join(str(output), "final_model.json")]])
    result = train_candidates(validate_train_config(config))
    # Same data, same holdout: the first check scores the earlier model's best weights.
    assert result.checks[0]["map_50_95"] == pytest.approx(earlier.metrics["map_50_95"], abs=1e-6)
    again = read(tmp_path / "again", "final_model.json")
    assert again["image_network"]["metadata"]["outputs"] == read(output, "final_model.json")["image_network"]["metadata"]["outputs"]


def test_streamed_and_in_memory_detection_batches_agree(tmp_path):
    batches = []
    for max_data_size in (0, 10**9):
        config = validate_train_config(example_config(tmp_path, count=16, batch_size=8, max_data_size=max_data_size))
        data = TrainingData(config)
        batches.append(next(iter(data.augmented_batches())))
    streamed, in_memory = batches
    for key in ("image", "boxes", "count"):
        np.testing.assert_array_equal(streamed[key].numpy(), in_memory[key].numpy())


def test_workers_score_the_holdout_like_keras_predict(trained):
    """Under MultiWorkerMirroredStrategy every worker calls the network itself (predict would
    split the holdout): the heads come out as predict gives them."""
    from pyramid.importers import tf
    from pyramid.train.fit import predict_directly

    output, _ = trained
    final = read(output, "final_model.json")
    network = BuiltModel({key: final[key] for key in ("preprocess", "output_exposition", "layers", "trees", "image_network")}).keras_model
    pixels = np.random.default_rng(3).uniform(0, 255, (10, SIZE, SIZE, 3)).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices(pixels).batch(4)
    ours, keras_ones = predict_directly(network, batches), network.predict(batches, verbose=0)
    assert len(ours) == len(keras_ones) == 2
    for mine, theirs in zip(ours, keras_ones):
        np.testing.assert_allclose(mine, theirs, atol=1e-4)


def test_evaluating_a_detector_in_batches_gives_sensenets_map(trained):
    """pyramid_evaluate's batched scoring equals COCO metrics of sensenet's own detections,
    one image at a time, at the same thresholds."""
    from sensenet.models.wrappers import create_model

    from pyramid.detection.evaluation import coco_metrics
    from pyramid.evaluation import evaluate

    output, _ = trained
    model_path = os.path.join(str(output), "final_model.json")
    points = [{"file": p["file"], "boxes": p["label"]} for p in read(output, "holdout_predictions.json")]
    classes = read(output, "final_model.json")["output_exposition"]["values"]
    sensenet = create_model(model_path, {"bounding_box_threshold": 0.001, "max_objects": 100})
    truth, found = [], []
    for point in points:
        truth.append([(*box[:4], classes.index(box[4])) for box in point["boxes"]])
        detected = sensenet(os.path.join(EXAMPLE, "images", point["file"]))
        found.append([(*d["box"], d["score"], classes.index(d["label"])) for d in detected])
    ours = evaluate(model_path, points, os.path.join(EXAMPLE, "images"))
    assert ours == pytest.approx(coco_metrics(truth, found, len(classes)), abs=1e-9)
