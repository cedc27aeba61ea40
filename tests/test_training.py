"""pyramid_train end to end on real digit scans, and sensenet's predictions of its output."""

import json
import os

import numpy as np
import pytest

from conftest import training_config, write_digits
from pyramid.config import validate_train_config
from pyramid.train.run import train_candidates

PARITY_TOLERANCE = 1e-5


def sensenet_predictions(model_path, files):
    from sensenet.models.wrappers import create_model

    model = create_model(model_path)
    return np.array([model._model.predict(pixels[None], verbose=0)[0] for pixels in sensenet_inputs(files)])


def sensenet_inputs(files):
    from sensenet.load import to_image_pixels

    return [to_image_pixels(path, None).astype(np.float32) for path in files]


def read_outputs(output_directory):
    with open(os.path.join(output_directory, "final_model.json")) as stream:
        final = json.load(stream)
    with open(os.path.join(output_directory, "holdout_predictions.json")) as stream:
        predictions = json.load(stream)
    return final, predictions


def train(config_dict):
    return train_candidates(validate_train_config(config_dict))


def test_classification_output_predicts_like_pyramid(digits_dir, tmp_path):
    image_root, points = digits_dir
    output = str(tmp_path / "out")
    best = train(training_config(image_root, output, points, max_iterations=120))

    final, predictions = read_outputs(output)
    assert final["output_exposition"] == {"type": "categorical", "values": ["0", "1", "2"]}
    assert final["image_network"]["metadata"]["rescale_type"] == "crop"
    assert final["image_network"]["metadata"]["input_image_shape"] == [16, 16, 3]
    assert best.iterations == 120

    # Every class is in the holdout, which is 20% of the rows.
    assert sorted({p["label"] for p in predictions}) == ["0", "1", "2"]
    assert len(predictions) == 24

    files = [os.path.join(image_root, p["file"]) for p in predictions]
    ours = np.array([p["prediction"] for p in predictions])
    theirs = sensenet_predictions(os.path.join(output, "final_model.json"), files)
    np.testing.assert_allclose(theirs, ours, atol=PARITY_TOLERANCE, rtol=0)

    accuracy = np.mean(np.argmax(ours, axis=1) == [int(p["label"]) for p in predictions])
    assert accuracy >= 0.9
    assert final["validation_metrics"]["accuracy"] == pytest.approx(accuracy)


def test_regression_with_padding_predicts_like_pyramid(tmp_path):
    """Numeric labels (the digit's value), a non-square input and `pad` rescaling."""
    image_root = str(tmp_path / "images")
    points = write_digits(image_root, 90, size=16, classes=(0, 4, 8), seed=1)
    for point in points:
        point["label"] = float(point["digit"])
    output = str(tmp_path / "out")
    config = training_config(
        image_root, output, points,
        input_image_shape=[20, 12, 3], rescale_type="pad", max_iterations=150,
        image_network_candidates=[["simple_residual", "randomly_initialize"]],
    )
    train(config)

    final, predictions = read_outputs(output)
    exposition = final["output_exposition"]
    assert exposition["type"] == "numeric"
    assert exposition["mean"] == pytest.approx(np.mean([p["label"] for p in points]))
    assert final["image_network"]["metadata"]["rescale_type"] == "pad"

    files = [os.path.join(image_root, p["file"]) for p in predictions]
    ours = np.array([p["prediction"] for p in predictions])
    theirs = sensenet_predictions(os.path.join(output, "final_model.json"), files)[:, 0]
    np.testing.assert_allclose(theirs, ours, atol=PARITY_TOLERANCE * exposition["stdev"], rtol=0)
    assert final["validation_metrics"]["r_squared"] > 0.8


def test_streaming_from_disk_trains_the_same_rows(digits_dir, tmp_path):
    """max_data_size 0 keeps images on disk; the pixels, and so the first checks, agree."""
    image_root, points = digits_dir
    results = []
    for max_data_size, name in ((0, "disk"), (10**9, "memory")):
        config = training_config(image_root, str(tmp_path / name), points, max_iterations=10, max_data_size=max_data_size)
        results.append(train(config))
    disk, memory = results
    assert disk.checks[0]["likelihood"] == pytest.approx(memory.checks[0]["likelihood"], abs=1e-6)
    assert disk.metrics["likelihood"] == pytest.approx(memory.metrics["likelihood"], abs=1e-4)


def test_candidates_share_the_time_budget(digits_dir, tmp_path):
    image_root, points = digits_dir
    candidates = [["simple", "randomly_initialize"], ["simple_residual", "randomly_initialize"]]
    config = training_config(
        image_root, str(tmp_path / "out"), points, max_total_time=12,
        image_network_candidates=candidates, patience=1000,
    )
    train(config)

    # The run's own records, not the test's clock (which a loaded machine stretches).
    budgets = []
    for topology, method in candidates:
        path = os.path.join(str(tmp_path / "out"), "submodel_%s_%s" % (topology, method), "model_fit_info.json")
        with open(path) as stream:
            info = json.load(stream)
        assert info["stop_reason"] == "time budget used"
        assert info["iterations"] > 0
        # Stopped by its deadline: within a batch and the final weights' copy of it.
        assert info["elapsed_time"] <= info["time_budget"] + 1.0
        budgets.append(info["time_budget"])
    # Both shares come out of max_total_time, after loading; the second gets what is left.
    assert sum(budgets) <= 12
    assert budgets[1] >= budgets[0] - 1.0


def test_early_stopping_steps_down_then_stops(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = training_config(
        image_root, str(tmp_path / "out"), points, patience=1, max_total_time=60,
        learning_rate=0.05, descent_algorithm="sgd",
    )
    result = train(config)
    assert result.stop_reason == "holdout stopped improving"
    phases = [check["phase"] for check in result.checks]
    assert phases == sorted(phases) and set(phases) == {1, 2, 3}
    # The kept metrics are those of one real check, the best one.
    best = max(result.checks, key=lambda check: check["likelihood"])
    assert result.metrics["likelihood"] == best["likelihood"]
    assert result.metrics["accuracy"] == best["accuracy"]


def test_phases_end_when_their_share_of_the_time_is_used(digits_dir, tmp_path):
    """With patience that never runs out, time alone steps the learning rate down: phase 1
    ends at half the candidate's training time, phase 2 at three quarters, and the last
    phase trains to the deadline."""
    image_root, points = digits_dir
    config = training_config(
        image_root, str(tmp_path / "out"), points, patience=1000, max_total_time=12, max_seconds_per_update=0.2,
    )
    result = train(config)
    assert result.stop_reason == "time budget used"
    phases = [check["phase"] for check in result.checks]
    assert phases == sorted(phases) and set(phases) == {1, 2, 3}
    total = result.checks[-1]["seconds"]  # about the controller's share: it ran to the deadline
    for phase, share in ((1, 0.5), (2, 0.75)):
        last = max(check["seconds"] for check in result.checks if check["phase"] == phase)
        first_after = min(check["seconds"] for check in result.checks if check["phase"] == phase + 1)
        # The step comes at the first check past the share (checks come every 0.2 s or so).
        assert share * total - 1.5 <= last <= share * total + 1.5, (phase, last, total)
        assert first_after > last


def test_augmented_training_batches_differ_and_predictions_still_match(digits_dir, tmp_path):
    from pyramid.train.data import TrainingData

    image_root, points = digits_dir
    plain = training_config(image_root, str(tmp_path / "plain"), points, max_iterations=40)
    augmented = dict(plain, output_directory=str(tmp_path / "aug"), image_augmentations=["rotation", "zoom", "brightness"])
    first = [next(iter(TrainingData(validate_train_config(c)).augmented_batches()))["image"].numpy() for c in (plain, augmented)]
    assert first[0].shape == first[1].shape
    assert np.abs(first[0] - first[1]).mean() > 1.0

    train(augmented)
    final, predictions = read_outputs(str(tmp_path / "aug"))
    files = [os.path.join(image_root, p["file"]) for p in predictions]
    theirs = sensenet_predictions(os.path.join(str(tmp_path / "aug"), "final_model.json"), files)
    np.testing.assert_allclose(theirs, [p["prediction"] for p in predictions], atol=PARITY_TOLERANCE, rtol=0)
    assert final["training_options"]["image_augmentations"] == ["rotation", "zoom", "brightness"]


def test_checks_during_warmup_never_count_as_failures(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = training_config(
        image_root, str(tmp_path / "out"), points, patience=1, max_iterations=60, learning_rate=0.5,
        learning_rate_warmup_iterations=60, max_seconds_per_update=0.05,
    )
    result = train(config)
    # With patience 1 a single failed check would end phase 1; inside the warmup none does.
    assert {check["phase"] for check in result.checks} == {1}
    assert len(result.checks) > 3 and result.stop_reason == "max_iterations reached"
    best, failed = 0.0, 0
    for check in result.checks:
        failed += check["likelihood"] <= best + 1e-7
        best = max(best, check["likelihood"])
    assert failed >= 1  # there were failed checks to ignore


CATEGORICAL_LOSSES = ["crossentropy", "hinge", "kl_divergence", "cosine"]
NUMERIC_LOSSES = ["mean_squared_error", "huber", "mean_percentage_error"]


@pytest.mark.parametrize("loss", CATEGORICAL_LOSSES)
def test_every_classification_loss_trains_and_keeps_sensenet_parity(digits_dir, tmp_path, loss):
    image_root, points = digits_dir
    output = str(tmp_path / "out")
    # At the default learning rate: at 0.003 hinge and cosine can saturate the softmax early
    # (confident and wrong, where their gradients vanish) until a later phase's lower rate.
    result = train(training_config(image_root, output, points, max_iterations=80, learning_rate=0.001, loss_function=loss))
    final, predictions = read_outputs(output)
    assert final["training_options"]["loss_function"] == loss
    files = [os.path.join(image_root, p["file"]) for p in predictions]
    theirs = sensenet_predictions(os.path.join(output, "final_model.json"), files)
    np.testing.assert_allclose(theirs, [p["prediction"] for p in predictions], atol=PARITY_TOLERANCE, rtol=0)
    assert result.metrics["accuracy"] > 0.6
    assert result.metrics["likelihood"] > result.checks[0]["likelihood"]


@pytest.mark.parametrize("loss", NUMERIC_LOSSES)
def test_every_regression_loss_trains_and_keeps_sensenet_parity(digits_dir, tmp_path, loss):
    image_root, points = digits_dir
    # Labels far from 0, where a percentage error means something.
    points = [dict(p, label=10.0 + 5 * p["digit"]) for p in points]
    output = str(tmp_path / "out")
    result = train(training_config(image_root, output, points, max_iterations=80, loss_function=loss))
    final, predictions = read_outputs(output)
    files = [os.path.join(image_root, p["file"]) for p in predictions]
    theirs = sensenet_predictions(os.path.join(output, "final_model.json"), files)[:, 0]
    stdev = final["output_exposition"]["stdev"]
    np.testing.assert_allclose(theirs, [p["prediction"] for p in predictions], atol=PARITY_TOLERANCE * stdev, rtol=0)
    assert result.metrics["r_squared"] > max(0.5, result.checks[0]["r_squared"])


def test_instance_weights_reach_the_loss(digits_dir, tmp_path):
    """Class "2" at weight 0.001 is all but ignored; at weight 1 it is learned."""
    image_root, points = digits_dir
    shares = {}
    for weight in (0.001, 1.0):
        weighted = [dict(p, weight=weight if p["label"] == "2" else 1.0) for p in points]
        config = training_config(image_root, str(tmp_path / str(weight)), points, max_iterations=80)
        config["training_data"] = [{"file": p["file"], "label": p["label"], "weight": p["weight"]} for p in weighted]
        train(config)
        _, predictions = read_outputs(str(tmp_path / str(weight)))
        twos = [p["prediction"][2] for p in predictions if p["label"] == "2"]
        assert len(twos) >= 5
        shares[weight] = float(np.mean(twos))
    assert shares[1.0] > 0.7
    assert shares[0.001] < 0.3
