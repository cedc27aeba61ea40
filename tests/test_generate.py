"""pyramid_generate: config errors, reproducibility, boxes tight to what shows of each object,
every key's effect, the files it writes, and generated data trained on by pyramid_train.

Foregrounds are real handwritten digits (scikit-learn's scans: the ink is the alpha, each class
a colour), backgrounds scikit-learn's two sample photos; small sizes throughout."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CHECKOUT
from pyramid.commands.generate import main
from pyramid.errors import ConfigError
from pyramid.generate import output
from pyramid.generate.augmentation import NAMES as AUGMENTATIONS, NUMERIC
from pyramid.generate.compose import BOX_ALPHA
from pyramid.generate.settings import validate_generate_config

COLOURS = {0: (230, 40, 40), 1: (40, 200, 40), 2: (40, 80, 230)}
GREY = 200


def write_digit_foregrounds(root, per_class, classes=(0, 1, 2), size=32, colours=COLOURS):
    """Digit scans as RGBA PNGs in <root>/d<digit>/: the ink is the alpha, the colour the class's,
shaded from left to right."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for digit in classes:
        os.makedirs(os.path.join(root, "d%d" % digit), exist_ok=True)
        for row in np.nonzero(digits.target == digit)[0][:per_class[digit] if isinstance(per_class, dict) else per_class]:
            ink = np.round(digits.images[row] * (255 / 16)).astype(np.uint8)
            # The class's colour, darker to the left: a texture for blur, contrast and cutout.
            shade = np.linspace(0.4, 1.0, size)[None, :, None] * np.array(colours[digit])[None, None, :]
            image = Image.fromarray(np.round(np.broadcast_to(shade, (size, size, 3))).astype(np.uint8), "RGB")
            image.putalpha(Image.fromarray(ink, "L").resize((size, size), Image.BICUBIC))
            image.save(os.path.join(root, "d%d" % digit, "%04d.png" % row))
    return str(root)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp("sources")
    foregrounds = write_digit_foregrounds(root / "fg", 6)
    os.makedirs(root / "bg")
    for number, photo in enumerate(load_sample_images().images):
        Image.fromarray(photo).save(root / "bg" / ("photo%d.jpg" % number))
    os.makedirs(root / "grey")
    Image.new("RGB", (50, 40), (GREY, GREY, GREY)).save(root / "grey" / "grey.png")
    return {"fg": foregrounds, "bg": str(root / "bg"), "grey": str(root / "grey"), "root": root}


def base_config(sources, output_directory, **changes):
    config = {
        "foreground_image_root": sources["fg"], "background_image_root": sources["bg"],
        "generated_dataset_size": 12, "input_image_shape": [32, 32, 3], "objective_type": "bounding_box",
        "output_directory": str(output_directory), "max_foreground_images": 3,
        "image_network_candidates": [["tinyyolov4", "randomly_initialize"]], "max_total_time": 30,
    }
    config.update(changes)
    return {key: value for key, value in config.items() if value is not None}


def generated(config, count=None, batch_size=4, parallelism=None, compile=False):
    """The examples (dicts of numpy values) of a config, in memory; the augmentations not
    compiled by XLA unless asked (the engine's tests compare the two; compiling takes seconds)."""
    generation = validate_generate_config(config, replace=True)
    maker = output.composer(generation, log=lambda *args: None, compile=compile)
    count = count or generation.config.generated_dataset_size
    batches = output.examples(maker, count, batch_size, parallelism)
    rows = [row for batch in batches for row in output.unbatch(batch)]
    return generation, rows


def points(generation, rows):
    return [output.training_point(generation, index, row) for index, row in enumerate(rows)]


# Config errors ------------------------------------------------------------------------------


def run_main(config, tmp_path, capsys, *flags):
    path = tmp_path / "generate.json"
    path.write_text(json.dumps(config))
    status = main([*flags, str(path)])
    return status, capsys.readouterr().err


@pytest.mark.parametrize("changes, message", [
    ({"foreground_image_root": "nowhere"}, r'^pyramid_generate: foreground_image_root: "nowhere" is not an existing directory \(looked for ".*nowhere"\)$'),
    ({"foreground_image_root": "EMPTY"}, r"^pyramid_generate: foreground_image_root: .* holds no images"),
    ({"background_image_root": "EMPTY"}, r"^pyramid_generate: background_image_root: .* holds no images"),
    ({"objective_type": "categorical", "empty_image_rate": 0.2},
     r"^pyramid_generate: background_label: missing, but empty_image_rate is 0.2"),
    ({"objective_type": "categorical", "max_foreground_images": 0},
     r"^pyramid_generate: background_label: missing, but max_foreground_images is 0"),
    ({"max_foreground_images": 33}, r"^pyramid_generate: max_foreground_images: 33 is not allowed; expected an integer from 0 to 32$"),
    ({"occupancy_range": [0.8, 0.2]}, r"^pyramid_generate: occupancy_range: \[0.8, 0.2\] is not allowed; expected \[low, high\]"),
    ({"empty_image_rate": 1.5}, r"^pyramid_generate: empty_image_rate: 1.5 is not allowed; expected a number from 0 to 1$"),
    ({"foreground_image_augmentations": ["rotate"]},
     r'^pyramid_generate: foreground_image_augmentations\[0\]: unknown augmentation "rotate"; did you mean "rotation"\?'),
    ({"background_augmentation_ranges": {"zoom": 3}},
     r"^pyramid_generate: background_augmentation_ranges.zoom: 3 is not allowed; expected a number from 0 to 0.9 or null$"),
    ({"objective_type": "boxes"}, r'^pyramid_generate: objective_type: "boxes" is not allowed;.* expected one of categorical, bounding_box$'),
    ({"generated_dataset_size": 0}, r"^pyramid_generate: generated_dataset_size: 0 is not allowed"),
    ({"constant_box_label": "a/b"}, r'^pyramid_generate: constant_box_label: "a/b" is not allowed;'),
    ({"bounding_box_margn": 2}, r'^pyramid_generate: unknown key "bounding_box_margn"; did you mean "bounding_box_margin"\?'),
    ({"training_data": []}, r"^pyramid_generate: training_data: not allowed here; pyramid_generate writes it"),
    # Training keys are checked by pyramid_train's own validation.
    ({"batch_size": 0}, r"^pyramid_generate: batch_size: 0 is not allowed; expected an integer from 1 to 8192$"),
    ({"input_image_shape": [48, 48, 3]}, r"^pyramid_generate: input_image_shape: \[48, 48, 3\] is not allowed for object detection"),
    ({"objective_type": "categorical", "constant_box_label": "thing"}, r"^pyramid_generate: constant_box_label: .* is not allowed with objective_type"),
])
def test_config_errors_name_the_key_in_one_line(sources, tmp_path, capsys, changes, message):
    os.makedirs(tmp_path / "EMPTY")
    for key, value in changes.items():
        if value == "EMPTY":
            changes = dict(changes, **{key: str(tmp_path / "EMPTY")})
    config = base_config(sources, tmp_path / "out", **changes)
    if config["objective_type"] == "categorical":
        config["image_network_candidates"] = [["simple", "randomly_initialize"]]
    status, err = run_main(config, tmp_path, capsys)
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err.strip()), err


def test_images_in_the_root_need_a_box_label(sources, tmp_path):
    root = tmp_path / "flat"
    os.makedirs(root)
    Image.open(os.path.join(sources["fg"], "d0", sorted(os.listdir(os.path.join(sources["fg"], "d0")))[0])).save(root / "x.png")
    with pytest.raises(ConfigError, match=r"^foreground_image_root: .* images directly in it, which have no label"):
        validate_generate_config(base_config(sources, tmp_path / "out", foreground_image_root=str(root)))
    generation = validate_generate_config(base_config(sources, tmp_path / "out", foreground_image_root=str(root),
                                                      constant_box_label="thing"))
    assert generation.classes == ["thing"]


def test_an_existing_data_set_is_replaced_only_on_request(sources, tmp_path, capsys):
    config = base_config(sources, tmp_path / "out", generated_dataset_size=4, objective_type="categorical",
                         image_network_candidates=[["simple", "randomly_initialize"]])
    assert run_main(config, tmp_path, capsys, "--no-progress")[0] == 0
    first = json.loads((tmp_path / "out" / "config.json").read_text())
    status, err = run_main(config, tmp_path, capsys)
    assert status == 2 and "output_directory:" in err and "already holds a generated data set (train, config.json)" in err
    status, _ = run_main(dict(config, seed=7, generated_dataset_size=3), tmp_path, capsys, "--replace", "--no-progress")
    assert status == 0
    second = json.loads((tmp_path / "out" / "config.json").read_text())
    assert len(first["training_data"]) == 4 and len(second["training_data"]) == 3
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "out" / "train")
                   for d, _, names in os.walk(tmp_path / "out" / "train") for f in names)
    assert files == sorted(point["file"] for point in second["training_data"])
    # Nothing temporary is left behind.
    assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "train"]


def test_a_config_error_exits_2_before_tensorflow_loads(sources, tmp_path):
    path = tmp_path / "generate.json"
    path.write_text(json.dumps(base_config(sources, tmp_path / "out", max_foreground_images=40)))
    code = ("import sys; from pyramid.commands.generate import main; status = main([sys.argv[1]]); "
            "assert 'tensorflow' not in sys.modules; sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=CHECKOUT), timeout=120)
    assert result.returncode == 2
    assert result.stderr == "pyramid_generate: max_foreground_images: 40 is not allowed; expected an integer from 0 to 32\n"


# Reproducibility --------------------------------------------------------------------------


ALL_FOREGROUND = {"foreground_image_augmentations": list(AUGMENTATIONS), "background_image_augmentations": ["rotation", "tint"],
                  "random_background_rate": 0.5}


def test_a_seed_gives_the_same_data_at_any_batch_size_and_parallelism(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", **ALL_FOREGROUND)
    _, small = generated(config, batch_size=3, parallelism=1, compile=True)
    _, large = generated(config, batch_size=8, parallelism=4, compile=True)
    for one, other in zip(small, large, strict=True):
        for key in one:
            np.testing.assert_array_equal(one[key], other[key])
    _, reseeded = generated(dict(config, seed=43))
    assert any(not np.array_equal(a["image"], b["image"]) for a, b in zip(small, reseeded))


def test_the_augmentation_seed_changes_the_augmentations_not_the_choices(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", foreground_image_augmentations=["rotation", "tint"])
    generation, rows = generated(config)
    _, other = generated(dict(config, augmentation_seed=5))
    same = lambda rows_: [(row["box_class"].tolist(), row["kept"].tolist(), row["directory"]) for row in rows_]  # noqa: E731
    assert same(rows) == same(other)
    assert sum(not np.array_equal(a["image"], b["image"]) for a, b in zip(rows, other)) >= len(rows) // 2


# Boxes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("augmentations", [{"rotation": 60}, {"shear": 40}, {"rotation": 30, "shear": 30, "deform": 0.3, "zoom": 0.3}])
def test_boxes_are_the_extent_of_what_shows_within_a_pixel(sources, tmp_path, augmentations):
    """Magenta digits on a grey background: the pixels whose green is below halfway (the
    foreground's opacity above one half) are the object; its box is their extent."""
    root = tmp_path / "magenta"
    write_digit_foregrounds(root, 4, colours={0: (255, 0, 255), 1: (255, 0, 255), 2: (255, 0, 255)})
    config = base_config(sources, tmp_path / "out", foreground_image_root=str(root), background_image_root=sources["grey"],
                         max_foreground_images=1, input_image_shape=[64, 64, 3], generated_dataset_size=16,
                         occupancy_range=[0.3, 0.9], foreground_augmentation_ranges=augmentations)
    generation, rows = generated(config)
    checked = 0
    for row in rows:
        rows_, columns = np.nonzero(row["image"][..., 1] < GREY * (1 - BOX_ALPHA))
        if not row["kept"][0]:
            assert len(rows_) == 0  # dropped only when nothing shows
            continue
        extent = [columns.min(), rows_.min(), columns.max() + 1, rows_.max() + 1]
        np.testing.assert_allclose(row["boxes"][0], extent, atol=1)
        checked += 1
    assert checked >= 14


def test_margin_widens_and_is_clipped_and_occluded_objects_lose_their_box(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", max_foreground_images=6, occupancy_range=[0.5, 1.0],
                         generated_dataset_size=24)
    _, plain = generated(config)
    _, wide = generated(dict(config, bounding_box_margin=3))
    for row, widened in zip(plain, wide):
        expected = np.clip(row["boxes"] + [-3, -3, 3, 3], 0, 32)
        np.testing.assert_array_equal(widened["boxes"][row["kept"]], expected[row["kept"]])
    # Large objects, up to six per image: some are hidden by later ones (a box dropped before
    # the image's last kept one), and every image keeps at least its top object's box.
    assert all(row["kept"].any() for row in plain)
    hidden = [row for row in plain if not row["kept"][: int(np.flatnonzero(row["kept"]).max())].all()]
    assert len(hidden) >= 2


# Every key ----------------------------------------------------------------------------------


def test_categorical_labels_come_from_the_last_foreground_or_background_label(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", objective_type="categorical", image_network_candidates=[["simple", "randomly_initialize"]],
                         empty_image_rate=0.5, background_label="nothing", generated_dataset_size=24,
                         input_image_shape=[40, 24, 3])
    generation, rows = generated(config)
    assert generation.classes == ["d0", "d1", "d2", "nothing"]
    assert all(row["image"].shape == (24, 40, 3) for row in rows)  # [width, height, 3]
    for point, row in zip(points(generation, rows), rows):
        count = int(row["kept"].sum())
        assert point["file"].startswith(point["label"] + "/")
        if point["label"] == "nothing":
            assert count == 0 and not (row["boxes"] != 0).any()
    assert 4 <= sum(point["label"] == "nothing" for point in points(generation, rows)) <= 20


def test_counts_sizes_and_labels_of_the_objects(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", max_foreground_images=4, generated_dataset_size=32)
    generation, rows = generated(config)
    counts = [int(row["kept"].sum()) for row in rows]
    assert max(counts) <= 4 and min(counts) >= 1 and len(set(counts)) >= 3
    assert all(row["image"].shape == (32, 32, 3) for row in rows)
    _, none = generated(dict(config, max_foreground_images=0), count=6)
    assert all(not row["kept"].any() for row in none)
    _, empty = generated(dict(config, empty_image_rate=1.0), count=6)
    assert all(not row["kept"].any() for row in empty)
    constant = dict(config, constant_box_label="digit")
    generation, rows = generated(constant)
    assert {box[4] for point in points(generation, rows) for box in point["boxes"]} == {"digit"}
    # Occupancy: the first object's larger side, relative to the image's (rotation off).
    for low, high in ((0.2, 0.3), (0.7, 0.8)):
        _, rows = generated(dict(config, occupancy_range=[low, high], max_foreground_images=1, background_image_root=sources["grey"]))
        sides = [max(row["boxes"][0][2] - row["boxes"][0][0], row["boxes"][0][3] - row["boxes"][0][1]) / 32 for row in rows]
        # The digits' ink fills about 60-100% of their tile: the box is at most the occupancy.
        assert all(0.5 * low - 1 / 32 <= side <= high + 1 / 32 for side in sides), sides


def test_balance_objective_samples_the_classes_equally(sources, tmp_path):
    root = tmp_path / "unbalanced"
    write_digit_foregrounds(root, {0: 12, 1: 1, 2: 1})
    config = base_config(sources, tmp_path / "out", foreground_image_root=str(root), objective_type="categorical",
                         image_network_candidates=[["simple", "randomly_initialize"]], generated_dataset_size=60)
    for balance, lowest in ((False, 0), (True, 12)):
        generation, rows = generated(dict(config, balance_objective=balance))
        labels = [point["label"] for point in points(generation, rows)]
        share = labels.count("d0") / len(labels)
        assert (share > 0.6) if not balance else (share < 0.5)
        assert min(labels.count(name) for name in ("d1", "d2")) >= lowest


def test_backgrounds_photos_synthetic_and_augmented(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", background_image_root=sources["grey"], empty_image_rate=1.0,
                         generated_dataset_size=16)
    _, grey = generated(config)
    assert all((row["image"] == GREY).all() for row in grey)
    _, synthetic = generated(dict(config, random_background_rate=1.0))
    colours = [len(np.unique(row["image"].reshape(-1, 3), axis=0)) for row in synthetic]
    assert all(not (row["image"] == GREY).all() for row in synthetic) and max(colours) >= 3
    _, no_root = generated(dict(config, background_image_root=None))
    assert all(not (row["image"] == GREY).all() for row in no_root)
    _, half = generated(dict(config, random_background_rate=0.5))
    assert 3 <= sum((row["image"] == GREY).all() for row in half) <= 13
    _, tinted = generated(dict(config, background_augmentation_ranges={"brightness": 0.3}))
    assert sum(not (row["image"] == GREY).all() for row in tinted) >= 8


@pytest.mark.parametrize("name", AUGMENTATIONS)
@pytest.mark.slow
def test_each_augmentation_changes_the_foregrounds(sources, tmp_path, name):
    config = base_config(sources, tmp_path / "out", background_image_root=sources["grey"], max_foreground_images=1,
                         input_image_shape=[64, 64, 3], generated_dataset_size=16)
    _, plain = generated(config)
    # The largest parameter: the smallest may change too little to survive rounding.
    _, changed = generated(dict(config, foreground_augmentation_ranges={name: NUMERIC[name][1] if name in NUMERIC else True}))
    assert any(not np.array_equal(a["image"], b["image"]) for a, b in zip(plain, changed))
    # Only the object changes: where no object is (before or after), the background is untouched.
    for before, after in zip(plain, changed):
        untouched = (before["image"] == GREY).all(-1) & (after["image"] == GREY).all(-1)
        assert untouched.mean() > 0.3


@pytest.mark.slow
def test_all_sixteen_augmentations_work_on_foregrounds_together(sources, tmp_path):
    config = base_config(sources, tmp_path / "out", background_image_root=sources["grey"], max_foreground_images=2,
                         input_image_shape=[64, 64, 3], generated_dataset_size=8)
    _, plain = generated(config)
    _, changed = generated(dict(config, foreground_image_augmentations=list(AUGMENTATIONS)))
    assert sum(not np.array_equal(a["image"], b["image"]) for a, b in zip(plain, changed)) >= 6
    assert all(row["kept"].any() for row in changed)


# Files, visualize, bigmlize, and training on what is written --------------------------------


def test_visualize_writes_sheets_and_no_data_set(sources, tmp_path, capsys):
    config = base_config(sources, tmp_path / "out")
    assert run_main(config, tmp_path, capsys, "--visualize=2")[0] == 0
    assert sorted(os.listdir(tmp_path / "out" / "visualize")) == ["generated_001.png", "generated_002.png"]
    assert sorted(os.listdir(tmp_path / "out")) == ["visualize"]


def generate_and_train(sources, tmp_path, capsys, **changes):
    from pyramid.commands.train import main as train_main

    config = base_config(sources, tmp_path / "out", **changes)
    status, err = run_main(config, tmp_path, capsys, "--bigmlize", "--no-progress")
    assert status == 0, err
    written = tmp_path / "out" / "config.json"
    assert train_main([str(written)]) == 0
    return json.loads(written.read_text()), tmp_path / "out"


def test_generated_classification_data_trains_and_sensenet_reads_the_model(sources, tmp_path, capsys):
    from sensenet.models.wrappers import create_model

    written, directory = generate_and_train(
        sources, tmp_path, capsys, objective_type="categorical", generated_dataset_size=36, max_foreground_images=1,
        image_network_candidates=[["simple", "randomly_initialize"]], max_total_time=4, batch_size=12,
        empty_image_rate=0.2, background_label="none", occupancy_range=[0.6, 0.9])
    assert {point["label"] for point in written["training_data"]} == {"d0", "d1", "d2", "none"}
    assert written["image_root"] == "train" and written["output_directory"] == "results"
    metadata = json.loads((directory / "train" / "metadata.json").read_text())
    assert metadata == [{"file": p["file"], "label": p["label"]} for p in written["training_data"]]
    final = json.loads((directory / "results" / "final_model.json").read_text())
    assert final["output_exposition"]["values"] == ["d0", "d1", "d2", "none"]
    model = create_model(str(directory / "results" / "final_model.json"))
    probabilities = np.asarray(model(str(directory / "train" / written["training_data"][0]["file"])))
    assert probabilities.shape == (1, 4) and probabilities.sum() == pytest.approx(1, abs=1e-4)


@pytest.mark.slow
def test_generated_detection_data_trains_and_sensenet_reads_the_model(sources, tmp_path, capsys):
    from sensenet.models.wrappers import create_model

    written, directory = generate_and_train(
        sources, tmp_path, capsys, generated_dataset_size=40, input_image_shape=[64, 64, 3],
        max_iterations=12, max_seconds_per_update=2, batch_size=8, bounding_box_margin=1)
    metadata = json.loads((directory / "train" / "metadata.json").read_text())
    boxes = [box for point in written["training_data"] for box in point["boxes"]]
    assert len(boxes) >= 40 and {box[4] for box in boxes} == {"d0", "d1", "d2"}
    assert metadata[0]["boxes"][0] == dict(zip(("xmin", "ymin", "xmax", "ymax", "label"),
                                               [min(v, 63) for v in written["training_data"][0]["boxes"][0][:4]] + [boxes[0][4]]))
    final = json.loads((directory / "results" / "final_model.json").read_text())
    assert final["output_exposition"] == {"type": "bounding_box", "values": ["d0", "d1", "d2"]}
    model = create_model(str(directory / "results" / "final_model.json"), {"bounding_box_threshold": 0.001})
    assert isinstance(model(str(directory / "train" / written["training_data"][0]["file"])), list)


@pytest.mark.slow
def test_an_interrupted_run_leaves_no_config_and_the_next_run_cleans_up(sources, tmp_path, capsys):
    import signal
    import time

    config = base_config(sources, tmp_path / "out", generated_dataset_size=5000, input_image_shape=[64, 64, 3])
    path = tmp_path / "generate.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen([sys.executable, "-m", "pyramid.commands.generate", "--no-progress", str(path)],
                               env=dict(os.environ, PYTHONPATH=CHECKOUT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            written = [name for _, _, names in os.walk(tmp_path / "out") for name in names if name.endswith(".png")]
            if len(written) >= 20:
                break
            time.sleep(0.2)
        assert len(written) >= 20
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    left = os.listdir(tmp_path / "out")
    assert len(left) == 1 and left[0].startswith(".train.partial-")
    status, _ = run_main(dict(config, generated_dataset_size=4), tmp_path, capsys, "--no-progress")
    assert status == 0 and sorted(os.listdir(tmp_path / "out")) == ["config.json", "train"]


def test_pyramid_train_bigmlize_writes_metadata_and_trains_nothing(tmp_path):
    from pyramid.commands.train import main as train_main

    example = os.path.join(CHECKOUT, "examples", "detection")
    with open(os.path.join(example, "config.json")) as stream:
        config = json.load(stream)
    points = config["training_data"][:3]
    os.makedirs(tmp_path / "images" / "train")
    for point in points:
        Image.open(os.path.join(example, "images", point["file"])).save(tmp_path / "images" / point["file"])
    config.update(training_data=points, image_root=str(tmp_path / "images"), output_directory=str(tmp_path / "out"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert train_main(["--bigmlize", str(path)]) == 0
    assert not os.path.exists(tmp_path / "out")
    metadata = json.loads((tmp_path / "images" / "metadata.json").read_text())
    assert [entry["file"] for entry in metadata] == [point["file"] for point in points]
    for entry, point in zip(metadata, points):
        width, height = Image.open(tmp_path / "images" / point["file"]).size
        assert entry["boxes"] == [{"xmin": max(0, x1), "ymin": max(0, y1), "xmax": min(width - 1, x2),
                                   "ymax": min(height - 1, y2), "label": label} for x1, y1, x2, y2, label in point["boxes"]]
