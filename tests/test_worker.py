"""The real `pyramid` worker process driven as BigML's backend drives it: the protocol, every
bad input answered and followed by a good job, and image workflows (image_training then
finalize_output) whose final_model.json sensenet loads and predicts exactly as pyramid did."""

import hashlib
import json
import os
import queue
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import CHECKOUT, write_digits
from pyramid.worker.cache import Rows, Schema, write_ser

READY = "pyramid process ready - version "
COMPLETE = "pyramid job complete - "
PROGRESS = "pyramid progress - "
FINAL = 'pyramid progress - {"progress": 1.0}'
CLASSES = ["zero", "one", "two"]  # info_list order, not sorted: class index = digit
MODEL_ID = "simple_randomly_initialize"
FIT_INFO_KEYS = {"class_index", "elapsed_time", "evaluation_metrics", "importances", "iterations", "optypes",
                 "output_exposition", "preprocess", "training_options", "validation_metrics", "weight_index",
                 "holdout_images", "stop_reason"}
TRAINING_RESULT_KEYS = {"validation_metrics", "evaluation_metrics", "iterations", "elapsed_time", "job_id",
                        "configuration_parameters", "base_image_network", "image_training_type", "job_time"}
FINALIZE_RESULT_KEYS = {"final_model_path", "short_model_path", "weight_path", "bundle_path", "tfjs_weight_paths",
                        "tfjs_model_path", "final_model_size", "short_model_size", "weights_size", "bundle_size",
                        "job_time"}


class Worker:
    """The real `pyramid` process, its stdin written as a backend writes it, its stdout read
    line by line as the lines come (a thread per process, so a missing reply times out)."""

    def __init__(self, idle_timeout=600):
        environment = dict(os.environ, PYTHONPATH=CHECKOUT)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyramid.commands.worker", str(idle_timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment,
        )
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.decode().rstrip("\n"))

    def write(self, text):
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def exit_status(self, timeout=30):
        """The process's exit status, once it and the reading of its stdout have ended."""
        status = self.process.wait(timeout=timeout)
        self.reader.join(timeout=timeout)
        return status

    def line(self, timeout=60):
        return self.lines.get(timeout=timeout)

    def job(self, line, timeout=300):
        """(progress lines, result) of the job on `line`: every line up to its completion."""
        self.write(line + "\n")
        lines = []
        while True:
            lines.append(self.line(timeout))
            if lines[-1].startswith(COMPLETE):
                assert lines[-2] == FINAL
                return lines[:-2], json.loads(lines[-1][len(COMPLETE):])

    def close(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def worker():
    process = Worker()
    assert process.line().startswith(READY)
    yield process
    process.close()


# --------------------------------------------------------------------------------------------
# Workflows on real images


def image_workflow(directory, count=60, **changes):
    """A `.ser` cache of digit images with a categorical objective, and the base document of
    its workflow (the backend's keys); returns {job type: document path}, the document."""
    image_root = os.path.join(directory, "images")
    points = write_digits(image_root, count)
    info_list = [{"index": 0, "type": "image"}, {"index": 1, "type": "categorical", "values": CLASSES}]
    rows = Rows([[point["file"] for point in points]], None, np.array([point["digit"] for point in points], float))
    cache_file = os.path.join(directory, "cache.ser")
    write_ser(cache_file, Schema(info_list), rows)
    output = os.path.join(directory, "output")
    os.makedirs(output, exist_ok=True)
    document = {
        "job_id": "workflow-1", "objective_type": "categorical", "info_list": info_list, "cache_file": cache_file,
        "cache_rows": len(points), "image_root": image_root, "input_image_shape": [16, 16, 3],
        "base_image_network": "simple", "image_training_type": "randomly_initialize",
        "layers": [{"type": "dense", "number_of_nodes": 3, "activation_function": "softmax", "seed": 0,
                    "weights": "glorot_uniform", "offset": "zeros"}],
        "max_data_size": 2**30, "batch_size": 16, "learning_rate": 0.003, "descent_algorithm": "adam",
        "loss_function": "crossentropy", "output_directory": output, "seed": 3, "max_iterations": 60,
        "max_seconds_per_update": 0.5, "return_holdout_images": True, "is_search": False,
        "tree_embedding": False, "logging_level": 2, "beta1": 0, "momentum": 0.9, "parallelism": 2,
    }
    document.update(changes)
    return write_jobs(directory, document), document


def write_jobs(directory, document, types=("image_training", "finalize_output")):
    jobs = {}
    for job_type in types:
        jobs[job_type] = os.path.join(directory, "%s.json" % job_type)
        with open(jobs[job_type], "w") as stream:
            json.dump(dict(document, job_type=job_type), stream)
    return jobs


@pytest.fixture(scope="module")
def categorical_run(tmp_path_factory):
    """One worker through image_training, finalize, a failing finalize, finalize again and the
    same image_training again; every line and result kept."""
    directory = str(tmp_path_factory.mktemp("categorical"))
    jobs, document = image_workflow(directory)
    failing = dict(document, job_type="finalize_output", base_image_network="resnet18")
    jobs["failing"] = os.path.join(directory, "failing.json")
    with open(jobs["failing"], "w") as stream:
        json.dump(failing, stream)

    process = Worker()
    try:
        ready = process.line()
        runs = {"ready": ready}
        runs["training"] = process.job(jobs["image_training"])
        runs["finalize"] = process.job(jobs["finalize_output"])
        output = document["output_directory"]
        runs["files"] = {name: digest(os.path.join(output, name)) for name in os.listdir(output)
                         if os.path.isfile(os.path.join(output, name))}
        runs["sizes"] = {name: os.path.getsize(os.path.join(output, name)) for name in runs["files"]}
        runs["failing"] = process.job(jobs["failing"])
        runs["files_after_failure"] = {name: digest(os.path.join(output, name)) for name in runs["files"]}
        runs["finalize_again"] = process.job(jobs["finalize_output"])
        runs["training_again"] = process.job(jobs["image_training"])
        process.write("terminate\n")
        runs["status"] = process.exit_status()
        runs["left"] = list(process.lines.queue)
    finally:
        process.close()
    return runs, document


def digest(path):
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def progress_values(lines):
    assert all(line.startswith(PROGRESS) for line in lines), lines
    return [json.loads(line[len(PROGRESS):]) for line in lines]


def test_image_training_lines_and_result(categorical_run):
    runs, document = categorical_run
    assert runs["ready"].startswith(READY)
    lines, result = runs["training"]
    values = progress_values(lines)
    assert values[0] == {"message": "pyramid job beginning", "job_id": MODEL_ID, "progress": 0.0}
    messages = [value["message"] for value in values if "message" in value]
    assert messages[:7] == ["pyramid job beginning", "Reading data from cache...", "Total training rows: 60",
                            "48 training, 12 holdout", "Creating TF model...", "Fitting image model...",
                            "Fitting with learning rate 0.003000..."]
    assert messages[-1] == "Maximum iterations (60 >= 60) reached"
    statuses = [value for value in values if "iterations" in value]
    assert statuses, "max_seconds_per_update 0.5 gives status lines"
    for status in statuses:
        assert list(status) == ["iterations", "seconds_per_iteration", "time_elapsed", "checks", "likelihood",
                                "accuracy", "job_id", "progress"]
        assert 0 <= status["progress"] <= 0.95 and status["job_id"] == MODEL_ID
    fractions = [status["progress"] for status in statuses]
    assert fractions == sorted(fractions) and fractions[-1] > 0
    assert all(value["job_id"] == MODEL_ID for value in values)

    assert set(result) == TRAINING_RESULT_KEYS
    assert result["job_id"] == MODEL_ID and result["iterations"] == 60
    assert (result["base_image_network"], result["image_training_type"]) == ("simple", "randomly_initialize")
    assert result["evaluation_metrics"] is None and result["configuration_parameters"] is None
    assert list(result["validation_metrics"]) == ["accuracy", "auc", "likelihood", "max_phi", "ndcg"]
    assert result["validation_metrics"]["accuracy"] > 0.5


def test_image_training_files(categorical_run):
    runs, document = categorical_run
    directory = os.path.join(document["output_directory"], "submodel_" + MODEL_ID)
    assert sorted(os.listdir(directory)) == ["model_fit_info.json", "model_weights.h5", "network.json"]
    with open(os.path.join(directory, "model_fit_info.json")) as stream:
        fit_info = json.load(stream)
    assert set(fit_info) == FIT_INFO_KEYS
    assert fit_info["training_options"] == dict(document, job_type="image_training")
    assert fit_info["output_exposition"] == {"type": "categorical", "values": CLASSES}
    assert fit_info["preprocess"] == [{"index": 0, "type": "image"}]
    assert (fit_info["optypes"], fit_info["class_index"], fit_info["weight_index"]) == (["image", "categorical"], 1, None)
    assert fit_info["importances"] == [1.0]
    assert fit_info["validation_metrics"] == runs["training"][1]["validation_metrics"]
    holdout = fit_info["holdout_images"]
    assert len(holdout) == 12
    digits = {name: int(name[1:5]) for name in os.listdir(document["image_root"])}
    for file, class_index in holdout:
        assert file in digits and class_index in (0, 1, 2)


def test_finalize_lines_files_and_sizes(categorical_run):
    runs, document = categorical_run
    lines, result = runs["finalize"]
    values = progress_values(lines)
    assert [(value["message"], value["progress"]) for value in values] == [
        ("pyramid job beginning", 0.0), ("Finalizing", 0.0), ("Creating holdout predictions", 0.1),
        ("Recreating model", 0.3), ("Writing weight file", 0.4), ("Writing bundle file", 0.5),
        ("Writing JSON", 0.8), ("Globbing paths and finishing", 0.9)]
    assert all(value["job_id"] == "workflow-1" for value in values)
    assert set(result) == FINALIZE_RESULT_KEYS
    output = document["output_directory"]
    assert result["final_model_path"] == os.path.join(output, "final_model.json")
    assert result["tfjs_model_path"] == os.path.join(output, "final_model_js_export", "model.json")
    assert result["tfjs_weight_paths"] == [os.path.join(output, "final_model_js_export", "group1-shard1of1.bin")]
    for key, size in (("final_model_path", "final_model_size"), ("short_model_path", "short_model_size"),
                      ("weight_path", "weights_size"), ("bundle_path", "bundle_size")):
        assert runs["sizes"][os.path.basename(result[key])] == result[size] > 0
    assert sorted(runs["files"]) == ["final_model.json", "final_model_bundle.smbundle", "final_model_weights.h5",
                                     "short_model.json"]
    short = json.load(open(result["short_model_path"]))
    dense = short["layers"][0]
    assert dense["weights"] == "glorot_uniform" and dense["number_of_nodes"] == 3
    assert short["holdout_image_predictions"] == json.load(open(result["final_model_path"]))["holdout_image_predictions"]


def test_sensenet_predicts_what_finalize_wrote(categorical_run):
    from pyramid.importers import tf  # noqa: F401  (first: sets TensorFlow up for sensenet)
    from sensenet.models.wrappers import create_model

    runs, document = categorical_run
    result = runs["finalize"][1]
    final = json.load(open(result["final_model_path"]))
    assert final["output_exposition"]["values"] == CLASSES and final["trees"] is None
    assert final["holdout_images"] == json.load(open(os.path.join(
        document["output_directory"], "submodel_" + MODEL_ID, "model_fit_info.json")))["holdout_images"]
    predictions = final["holdout_image_predictions"]
    assert [[os.path.join(document["image_root"], file), index] for file, index in final["holdout_images"]] == \
        [row[:2] for row in predictions]
    from_json = create_model(result["final_model_path"])
    from_bundle = create_model(result["bundle_path"])
    for path, _, probabilities in predictions:
        assert np.allclose(from_json(path)[0], probabilities, atol=1e-5, rtol=0)
        assert np.allclose(from_bundle(path)[0], probabilities, atol=1e-5, rtol=0)
    accuracy = np.mean([np.argmax(row[2]) == row[1] for row in predictions])
    assert accuracy == pytest.approx(final["validation_metrics"]["accuracy"])


def test_a_failing_job_damages_nothing_and_finalize_runs_again(categorical_run):
    runs, document = categorical_run
    _, failure = runs["failing"]
    assert failure["job_id"] == "workflow-1"
    assert "submodel_resnet18_randomly_initialize/model_fit_info.json" in failure["error"]
    assert "does not exist" in failure["error"] and "\n" not in failure["error"]
    assert runs["files_after_failure"] == runs["files"]
    again = runs["finalize_again"][1]
    assert set(again) == FINALIZE_RESULT_KEYS
    # Finalizing again replaces the files with the same model.
    assert json.load(open(again["final_model_path"]))["layers"] == \
        json.load(open(runs["finalize"][1]["final_model_path"]))["layers"]


def test_no_job_leaks_into_the_next_and_the_worker_ends_cleanly(categorical_run):
    runs, _ = categorical_run
    first, again = runs["training"][1], runs["training_again"][1]
    # The same document after three other jobs trains the same network: seed and state reset.
    assert again["validation_metrics"] == first["validation_metrics"]
    assert again["iterations"] == first["iterations"]
    assert runs["status"] == 0 and runs["left"] == []


def test_regression_workflow_from_json_points(tmp_path, worker):
    """A numeric objective from a `.json` points cache: standardised values in, negated errors
    out, holdout predictions in label units equal to sensenet's."""
    from pyramid.importers import tf  # noqa: F401
    from sensenet.models.wrappers import create_model

    image_root = str(tmp_path / "images")
    points = write_digits(image_root, 60)
    mean, stdev = 1.0, 0.8
    cache_file = str(tmp_path / "points.json")
    with open(cache_file, "w") as stream:
        json.dump([{"file": p["file"], "label": (p["digit"] - mean) / stdev, "weight": 1} for p in points], stream)
    info_list = [{"index": 0, "type": "image"}, {"index": 1, "type": "numeric", "mean": mean, "stdev": stdev}]
    jobs, document = image_workflow(
        str(tmp_path), objective_type="numeric", info_list=info_list, cache_file=cache_file, cache_rows=None,
        image_root=image_root, loss_function="mean_squared_error", logging_level=None, deepnet_version="alpha",
        layers=[{"type": "dense", "number_of_nodes": 1, "activation_function": "identity", "seed": 0,
                 "weights": "glorot_uniform", "offset": "zeros"}])
    lines, trained = worker.job(jobs["image_training"])
    assert lines == []  # no logging_level 2: no progress lines
    metrics = trained["validation_metrics"]
    assert list(metrics) == ["mean_absolute_error", "mean_squared_error", "median_absolute_error", "r_squared",
                             "spearman_r"]
    assert all(metrics[key] <= 0 for key in list(metrics)[:3])
    _, result = worker.job(jobs["finalize_output"])
    assert "error" not in result, result
    final = json.load(open(result["final_model_path"]))
    assert final["output_exposition"] == {"type": "numeric", "mean": mean, "stdev": stdev}
    assert {"scale", "residuals"} <= set(final["layers"][0])  # deepnet_version "alpha": legacy layers
    digits = {p["file"]: p["digit"] for p in points}
    model = create_model(result["final_model_path"])
    for path, truth, prediction in final["holdout_image_predictions"]:
        assert truth == pytest.approx(digits[os.path.basename(path)])
        assert float(np.ravel(model(path))[0]) == pytest.approx(prediction, abs=1e-5)


def test_image_training_data_with_class_names_and_class_weights(tmp_path, worker):
    """Points inline in the document, labelled by class name, weighted per class."""
    image_root = str(tmp_path / "images")
    points = write_digits(image_root, 40)
    inline = [{"file": p["file"], "label": CLASSES[p["digit"]], "weight": 1} for p in points]
    jobs, _ = image_workflow(str(tmp_path), image_training_data=inline, cache_file=None, cache_rows=None,
                             image_root=image_root, class_weights=[["two", 3.0]], max_iterations=8,
                             logging_level=None)
    _, trained = worker.job(jobs["image_training"])
    assert "error" not in trained, trained
    fit_info = json.load(open(os.path.join(str(tmp_path), "output", "submodel_" + MODEL_ID, "model_fit_info.json")))
    digits = {p["file"]: p["digit"] for p in points}
    assert [index for _, index in fit_info["holdout_images"]] == [digits[file] for file, _ in fit_info["holdout_images"]]


# --------------------------------------------------------------------------------------------
# Bad input: an error result with one clear line, and the next job runs


def bad_jobs(directory, good_document):
    """(name, line, expected job_id, expected error or a part of it) for the ways a job line
    or document can be bad."""
    def document(name, content):
        path = directory / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    good = dict(good_document, job_type="image_training")
    good_path = document("good.json", good)
    missing_image = dict(good, cache_file=str(directory / "missing.ser"))
    schema = Schema(good["info_list"])
    present = sorted(name for name in os.listdir(good["image_root"]) if name.endswith(".png"))[0]
    write_ser(missing_image["cache_file"], schema, Rows([[present, "gone.png"]], None, np.array([0.0, 1.0])))
    missing_image["cache_rows"] = 2
    nowhere = str(directory / "nowhere.json")
    return [
        ("missing", nowhere, None, 'job file "%s" does not exist' % nowhere),
        ("trailing-space", good_path + " ", None,
         'job file "%s " does not exist (the line has spaces or a carriage return around the path)' % good_path),
        ("carriage-return", good_path + "\r", None,
         'job file "%s\\r" does not exist (the line has spaces or a carriage return around the path)' % good_path),
        ("directory", str(directory), None, 'job file "%s" is a directory, not a JSON file' % directory),
        ("not-json", document("text.json", "job_type = training"), None,
         'job file "%s" is not valid JSON: Expecting value at line 1, column 1' % (directory / "text.json")),
        ("not-an-object", document("list.json", [{"job_id": "x"}]), None,
         'job file "%s" holds a list, not a JSON object' % (directory / "list.json")),
        ("no-job_type", document("untyped.json", {"job_id": "u1"}), "u1",
         'missing required key "job_type"; expected one of dataset_caching, finalize_output, image_training, '
         'search_submodel, standard_training'),
        ("unknown-job_type", document("unknown.json", {"job_id": "k1", "job_type": "model_training"}), "k1",
         'job_type: "model_training" is not allowed; expected one of dataset_caching, finalize_output, '
         'image_training, search_submodel, standard_training'),
        ("no-job_id", document("anonymous.json", {k: v for k, v in good.items() if k != "job_id"} | {"batch_size": 0}),
         None, "batch_size: 0 is not allowed; expected an integer from 1 to 8192, or null"),
        ("pyramid_train-key", document("train_key.json", dict(good, max_total_time=60)), "workflow-1",
         'unknown key "max_total_time"; it is a pyramid_train config key (a job\'s time budget is max_training_time)'),
        ("unknown-key", document("typo.json", dict(good, learning_rat=0.1)), "workflow-1",
         'unknown key "learning_rat"; did you mean "learning_rate"?'),
        ("boolean-for-integer", document("bool.json", dict(good, max_data_size=True)), "workflow-1",
         "max_data_size: true is not allowed; expected an integer >= 0, or null"),
        ("float-for-integer", document("float.json", dict(good, max_data_size=1e9)), "workflow-1",
         "max_data_size: 1000000000.0 is not allowed; expected an integer >= 0, or null"),
        ("bad-choice", document("choice.json", dict(good, descent_algorithm="adamw")), "workflow-1",
         'descent_algorithm: "adamw" is not allowed; did you mean "adam"? expected one of'),
        ("missing-required", document("no_layers.json", {k: v for k, v in good.items() if k != "layers"}),
         "workflow-1", 'missing required key "layers"; image_training jobs need it'),
        ("unknown-network", document("network.json", dict(good, base_image_network="resnet50")), "workflow-1",
         'base_image_network: "resnet50" is not allowed; expected one of simple, simple_residual'),
        ("missing-image", document("missing_image.json", missing_image), "workflow-1",
         'row 1 of cache_file "%s": file: "gone.png" is not an existing file' % missing_image["cache_file"]),
        ("bad-ser", document("bad_ser.json", dict(good, cache_rows=7)), "workflow-1", "cache_rows"),
        ("readout-width", document("width.json", dict(good, layers=[dict(good["layers"][0], number_of_nodes=2)])),
         "workflow-1", "layers[0].number_of_nodes: 2 is not allowed"),
        ("finalize-without-model", document("finalize.json", dict(good, job_type="finalize_output",
                                                                 output_directory=str(directory / "empty"))),
         "workflow-1", "model_fit_info.json\" does not exist"),
        ("standard-on-ser", document("standard.json", dict(good, job_type="standard_training")), "workflow-1",
         "is not a dataset_caching .npy file"),
    ], good_path


def test_every_bad_job_is_answered_and_the_next_job_runs(tmp_path, worker):
    directory = tmp_path / "workflow"
    directory.mkdir()
    _, good_document = image_workflow(str(directory), count=40, max_iterations=4, logging_level=None)
    cases, good = bad_jobs(tmp_path, good_document)
    for name, line, job_id, error in cases:
        lines, result = worker.job(line)
        assert set(result) == {"job_id", "error"}, name
        assert result["job_id"] == job_id, name
        assert error in result["error"] and "\n" not in result["error"], (name, result["error"])
        if name in ("missing", "directory", "not-json", "not-an-object", "no-job_type"):
            assert lines == [], name  # rejected before validation: only the final two lines
        # The same process runs the next good job.
        _, answer = worker.job(good)
        assert "error" not in answer and answer["iterations"] == 4, (name, answer)
    worker.write("terminate\n")
    assert worker.exit_status() == 0


def test_a_diverging_job_keeps_its_best_finite_weights(tmp_path, worker):
    """Holdout checks of a network gone to NaN never count as better: the weights of the best
    finite check are written, and finalize writes finite files."""
    jobs, document = image_workflow(str(tmp_path), count=40, learning_rate=1e30, max_iterations=20,
                                    logging_level=None)
    _, trained = worker.job(jobs["image_training"])
    assert "error" not in trained, trained
    assert all(np.isfinite(value) for value in trained["validation_metrics"].values())
    _, result = worker.job(jobs["finalize_output"])
    with open(result["final_model_path"]) as stream:
        json.loads(stream.read(), parse_constant=lambda name: pytest.fail("%s in final_model.json" % name))


def test_nan_anywhere_is_named_and_nothing_is_written(tmp_path):
    from pyramid.errors import InputError
    from pyramid.worker.outputs import check_finite

    document = {"layers": [{"weights": [[0.5, float("nan")]]}], "validation_metrics": {"accuracy": 1.0}}
    with pytest.raises(InputError) as raised:
        check_finite(document, "final_model.json")
    assert str(raised.value) == ('final_model.json: ["layers"][0]["weights"][0][1] is not a finite number '
                                 "(training diverged); nothing was written")
    check_finite({"layers": [{"weights": [[0.5, 1e300]]}]}, "final_model.json")


# --------------------------------------------------------------------------------------------
# The protocol


def test_worker_reads_each_line_as_it_comes(tmp_path):
    import time

    jobs = {}
    for name in ("a", "b", "c"):
        jobs[name] = tmp_path / ("%s.json" % name)
        jobs[name].write_text(json.dumps({"job_id": name, "job_type": "standard_training"}))
    # An idle timeout far longer than the test waits: only reading the lines ends it in time.
    worker = Worker(idle_timeout=600)
    try:
        assert worker.line().startswith(READY)
        assert worker.job(str(jobs["a"]))[1]["job_id"] == "a"
        # Two lines in one write: both jobs are answered while stdin stays open.
        worker.write("%s\n%s\n" % (jobs["b"], jobs["c"]))
        answers = []
        while len(answers) < 2:
            line = worker.line()
            if line.startswith(COMPLETE):
                answers.append(json.loads(line[len(COMPLETE):])["job_id"])
        assert answers == ["b", "c"]
        # A line written in two parts, with a pause between them.
        worker.write(str(jobs["a"])[:5])
        time.sleep(0.5)
        assert worker.job(str(jobs["a"])[5:])[1]["job_id"] == "a"
        # A job and terminate in one write: the job is answered, then the process ends.
        worker.write("%s\nterminate\n" % jobs["c"])
        while not worker.line().startswith(COMPLETE):
            pass
        assert worker.process.wait(timeout=30) == 0
    finally:
        worker.close()


def test_worker_idle_timeout_prints_an_empty_line_and_exits_0():
    worker = Worker(idle_timeout=1)
    try:
        assert worker.line().startswith(READY)
        assert worker.line() == ""
        assert worker.exit_status() == 0
        assert worker.lines.empty()
    finally:
        worker.close()


@pytest.mark.parametrize("ending", ["terminate\n", "\n", ""], ids=["terminate", "empty-line", "end-of-input"])
def test_worker_ends_quietly(ending):
    worker = Worker(idle_timeout=600)
    try:
        assert worker.line().startswith(READY)
        worker.write(ending)
        worker.process.stdin.close()
        assert worker.exit_status() == 0
        assert worker.lines.empty()
    finally:
        worker.close()


def test_the_worker_stdout_carries_only_protocol_lines():
    """Python prints and writes to file descriptor 1 (as TensorFlow's C++ code and Keras'
    progress bars make) go to stderr once the worker has taken stdout."""
    script = (
        "import os\n"
        "from pyramid.worker.protocol import take_stdout\n"
        "protocol = take_stdout()\n"
        "print('a stray print')\n"
        "os.write(1, b'1/1 [====] - 0s 24ms/step\\n')\n"
        "protocol.complete({'job_id': 'j'})\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=CHECKOUT))
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == 'pyramid progress - {"progress": 1.0}\npyramid job complete - {"job_id": "j"}\n'
    assert "a stray print" in finished.stderr and "24ms/step" in finished.stderr


def test_worker_version():
    finished = subprocess.run([sys.executable, "-m", "pyramid.commands.worker", "--version"], capture_output=True,
                              text=True, timeout=60, env=dict(os.environ, PYTHONPATH=CHECKOUT))
    assert finished.returncode == 0
    assert finished.stdout.startswith("Pyramid ")


@pytest.mark.slow  # about 100 s; the image workflows above cover the same jobs
def test_detection_workflow(tmp_path, worker):
    """A bounding_box job: `{file, boxes}` points from a `.json` cache_file, a YOLO network,
    and a final model whose detections in sensenet are the holdout predictions written. (Ten
    steps find little at sensenet's default thresholds; test_detection.py checks pyramid's
    boxes against sensenet's at low thresholds, on the same decoding code.)"""
    from pyramid.importers import tf  # noqa: F401
    from sensenet.models.wrappers import create_model

    example = os.path.join(CHECKOUT, "examples", "detection")
    with open(os.path.join(example, "config.json")) as stream:
        points = json.load(stream)["training_data"][:40]
    cache_file = str(tmp_path / "boxes.json")
    with open(cache_file, "w") as stream:
        json.dump(points, stream)
    labels = sorted({box[4] for point in points for box in point["boxes"]})
    info_list = [{"index": 0, "type": "image"}, {"index": 1, "type": "bounding_box", "values": labels}]
    jobs, document = image_workflow(
        str(tmp_path), objective_type="bounding_box", info_list=info_list, cache_file=cache_file,
        cache_rows=None, image_root=os.path.join(example, "images"), input_image_shape=[64, 64, 3],
        base_image_network="tinyyolov4", layers=None, loss_function=None, max_iterations=10,
        logging_level=None, batch_size=8)
    _, trained = worker.job(jobs["image_training"])
    assert "error" not in trained, trained
    assert trained["job_id"] == "tinyyolov4_randomly_initialize"
    assert set(trained["validation_metrics"]) >= {"map_50", "map_50_95"}
    _, result = worker.job(jobs["finalize_output"])
    assert "error" not in result, result
    final = json.load(open(result["final_model_path"]))
    assert final["output_exposition"] == {"type": "bounding_box", "values": labels}
    model = create_model(result["final_model_path"])
    for path, truth, found in final["holdout_image_predictions"]:
        assert truth == next(point["boxes"] for point in points if os.path.join(example, "images", point["file"]) == path)
        sensenet = model(path)
        assert len(sensenet) == len(found[0])
        for mine, theirs in zip(found[0], sensenet):
            assert mine["label"] == theirs["label"] and mine["score"] == pytest.approx(theirs["score"], abs=1e-5)
            assert np.allclose(mine["box"], theirs["box"], atol=1)


def mixed_workflow(directory, count=60, **changes):
    """Digit images with a numeric and a categorical column, and a 3-class objective: a
    `.ser` cache `[image, numeric, categorical, objective]` and its workflow's documents."""
    image_root = os.path.join(directory, "images")
    points = write_digits(image_root, count)
    rng = np.random.default_rng(4)
    info_list = [{"index": 0, "type": "image"}, {"index": 1, "type": "numeric", "mean": 2.0, "stdev": 0.5},
                 {"index": 3, "type": "categorical", "values": ["blue", "green", "red"]},
                 {"index": 4, "type": "categorical", "values": CLASSES}]
    numbers = rng.normal(size=count)
    colours = rng.integers(-1, 3, size=count).astype(float)  # -1: missing
    rows = Rows([[point["file"] for point in points], numbers, colours], None,
                np.array([point["digit"] for point in points], float))
    cache_file = os.path.join(directory, "mixed.ser")
    write_ser(cache_file, Schema(info_list), rows)
    jobs, document = image_workflow(directory, count=count, info_list=info_list, cache_file=cache_file,
                                    image_root=image_root, logging_level=2, **changes)
    jobs.update(write_jobs(directory, document, ("dataset_caching",)))
    return jobs, document, rows


def test_dataset_caching_projects_images_and_encodes_columns(tmp_path, worker):
    from pyramid.data import reading
    from pyramid.worker.outputs import load_image_network

    jobs, document, rows = mixed_workflow(str(tmp_path), max_iterations=10)
    _, trained = worker.job(jobs["image_training"])
    assert "error" not in trained, trained
    lines, result = worker.job(jobs["dataset_caching"])
    assert "error" not in result, result
    output = document["output_directory"]
    assert set(result) == {"datasets", "full_data_size", "full_data_shape", "row_size", "tree_inputs", "job_time"}
    assert result["datasets"] == [os.path.join(output, "full_dataset.npy")]
    full = np.load(result["datasets"][0])
    assert full.dtype == np.float32 and list(full.shape) == result["full_data_shape"] == [60, 128 + 1 + 3 + 3]
    assert result["row_size"] == 4 * full.shape[1] and result["full_data_size"] == full.nbytes
    assert result["tree_inputs"] == 0

    # Image features: the trained image network's on each file, read as sensenet reads it.
    built = load_image_network(os.path.join(output, "submodel_" + MODEL_ID))
    from pyramid.importers import keras
    features = keras.Model(built.keras_model.input, built.image_layers[-1].output)
    for row in (0, 17, 59):
        pixels = reading.read_image(os.path.join(document["image_root"], rows.inputs[0][row]), (16, 16), "crop")
        assert np.allclose(features(pixels[None]).numpy()[0], full[row, :128], atol=1e-5)
    assert np.allclose(full[:, 128], rows.inputs[1])
    colours = rows.inputs[2]
    assert np.array_equal(full[:, 129:132].argmax(axis=1)[colours >= 0], colours[colours >= 0])
    assert not full[colours < 0, 129:132].any()  # missing: all zeros
    assert np.array_equal(full[:, 132:].argmax(axis=1), rows.objective)

    evaluation = np.load(os.path.join(output, "evaluation_dataset.npy"))
    assert np.array_equal(evaluation, full)  # fewer than 4096 rows: all of them
    importance = np.load(os.path.join(output, "importance_dataset.npy"))
    assert importance.dtype == np.float32 and importance.shape == (60, 128 + 1 + 3 + 1)

    progress = progress_values(lines)
    rows_lines = [value for value in progress if "row_number" in value]
    assert [value["row_number"] for value in rows_lines] == [1, 60]
    assert list(rows_lines[0]) == ["total_rows_to_cache", "row_number", "job_id", "progress"]
    assert [value["progress"] for value in rows_lines] == [0.0, 0.9]


def tabular_cache(directory, count, seed=5):
    """A `.ser` cache `[numeric, numeric, categorical, objective]` of `count` rows drawn from
    scikit-learn's wine data (standardised numerics, a binned third column, the wine class)."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(wine.target), count)
    data = (wine.data - wine.data.mean(0)) / wine.data.std(0)
    info_list = [{"index": 0, "type": "numeric", "mean": 0.0, "stdev": 1.0},
                 {"index": 1, "type": "numeric", "mean": 0.0, "stdev": 1.0},
                 {"index": 2, "type": "categorical", "values": ["low", "mid", "high"]},
                 {"index": 3, "type": "categorical", "values": ["class_0", "class_1", "class_2"]}]
    binned = np.digitize(data[picked, 6], [-0.5, 0.5]).astype(float)
    rows = Rows([data[picked, 0], data[picked, 9], binned], None, wine.target[picked].astype(float))
    cache_file = os.path.join(directory, "wine.ser")
    write_ser(cache_file, Schema(info_list), rows)
    return cache_file, info_list, rows


def test_tabular_caching_samples_to_max_data_size_and_writes_subsets(tmp_path, worker):
    cache_file, info_list, rows = tabular_cache(str(tmp_path), 3000)
    width = 1 + 1 + 3 + 3
    document = {"job_id": "c1", "job_type": "dataset_caching", "objective_type": "categorical",
                "info_list": info_list, "cache_file": cache_file, "cache_rows": 3000, "is_search": False,
                "max_data_size": 2000 * 4 * width, "parallelism": 4, "seed": 11,
                "output_directory": str(tmp_path / "new" / "output")}
    path = tmp_path / "caching.json"
    path.write_text(json.dumps(document))
    _, result = worker.job(str(path))
    assert "error" not in result, result
    full = np.load(result["datasets"][0])
    assert full.shape == (2000, width)  # floor(max_data_size / row bytes) rows of the 3000
    assert len(result["datasets"]) == 9  # 2000 rows > max_data_size / parallelism: 8 subsets
    for index, subset_path in enumerate(result["datasets"][1:]):
        assert subset_path.endswith("data_subset_%d.npy" % index)
        subset = np.load(subset_path)
        assert subset.shape == (500, width)
        assert {tuple(row) for row in subset} <= {tuple(row) for row in full}
    # The sampled rows are rows of the cache, encoded.
    sources = np.stack([rows.inputs[0], rows.inputs[1]], axis=1).astype(np.float32)
    distances = np.abs(full[:, None, :2] - sources[None]).max(axis=2).min(axis=1)
    assert distances.max() == 0
    importance = np.load(os.path.join(document["output_directory"], "importance_dataset.npy"))
    assert importance.shape == (128, 1 + 1 + 3 + 1) and set(np.unique(importance[:, -1])) <= {0.0, 1.0, 2.0}


def test_caching_with_trees_prepends_their_features(tmp_path, worker):
    from pyramid.worker.trees import tree_feature_count

    cache_file, info_list, rows = tabular_cache(str(tmp_path), 3000)
    document = {"job_id": "t1", "job_type": "dataset_caching", "objective_type": "categorical",
                "info_list": info_list, "cache_file": cache_file, "cache_rows": 3000, "tree_embedding": True,
                "max_data_size": 2**30, "parallelism": 4, "seed": 11, "output_directory": str(tmp_path / "out")}
    path = tmp_path / "caching.json"
    path.write_text(json.dumps(document))
    _, result = worker.job(str(path))
    assert "error" not in result, result
    trees = tree_feature_count(5, 3)
    assert result["tree_inputs"] == trees == 3
    full = np.load(result["datasets"][0])
    assert full.shape == (3000, trees + 5 + 3)
    probabilities = full[:, :trees]
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)  # one window: class probabilities
    forests = json.load(open(os.path.join(document["output_directory"], "trees.json")))
    assert [window for window, _ in forests] == [[0, 5]] and len(forests[0][1]) == 8
    importances = json.load(open(os.path.join(document["output_directory"], "tree_importances.json")))
    assert len(importances) == trees
    assert all(set(entry) <= {"0", "1", "2"} and abs(sum(entry.values()) - 1) < 1e-6 for entry in importances)
    importance = np.load(os.path.join(document["output_directory"], "importance_dataset.npy"))
    assert importance.dtype == np.float64 and importance.shape[1] == trees + 5 + 1


def test_mixed_workflow_with_trees_is_sensenets(tmp_path, worker):
    """image_training, dataset_caching with trees, standard_training and finalize on an image, a
    numeric and a categorical column: sensenet's predictions from the original inputs (image
    paths, raw numbers, category names) equal the dense model's on the cached rows."""
    from pyramid.importers import tf  # noqa: F401
    from sensenet.models.wrappers import create_model

    from pyramid.worker.outputs import read_dense_model
    from pyramid.worker.trees import apply_trees

    jobs, document, rows = mixed_workflow(
        str(tmp_path), max_iterations=10, tree_embedding=True, job_id="standard-1",
        layers=[{"type": "dense", "number_of_nodes": 16, "activation_function": "relu", "seed": 0,
                 "weights": "glorot_uniform", "offset": "zeros"},
                {"type": "dense", "number_of_nodes": 3, "activation_function": "softmax", "seed": 1,
                 "weights": "glorot_uniform", "offset": "zeros"}])
    _, image_result = worker.job(jobs["image_training"])
    assert "error" not in image_result, image_result
    dense_document = dict(document, job_type="standard_training",
                          cache_file=os.path.join(document["output_directory"], "full_dataset.npy"),
                          max_iterations=40)
    jobs.update(write_jobs(str(tmp_path), dense_document, ("standard_training",)))
    results = {"image_training": image_result}
    for job_type in ("dataset_caching", "standard_training", "finalize_output"):
        _, results[job_type] = worker.job(jobs[job_type])
        assert "error" not in results[job_type], (job_type, results[job_type])
    trained, result = results["standard_training"], results["finalize_output"]
    assert trained["job_id"] == "standard-1" and trained["base_image_network"] is None
    output = document["output_directory"]
    fit_info = json.load(open(os.path.join(output, "submodel_standard-1", "model_fit_info.json")))
    assert len(fit_info["importances"]) == 3 and abs(sum(fit_info["importances"]) - 1) < 1e-6
    assert fit_info["preprocess"] == document["info_list"][:3]

    final = json.load(open(result["final_model_path"]))
    assert final["trees"] == json.load(open(os.path.join(output, "trees.json")))
    assert final["image_network"]["metadata"]["outputs"] == 128
    full = np.load(os.path.join(output, "full_dataset.npy"))
    _, network = read_dense_model(os.path.join(output, "submodel_standard-1"))
    from pyramid.nets.dense import DenseModel
    ours = DenseModel(network["layers"], network["width"])
    ours.keras_model.load_weights(os.path.join(output, "submodel_standard-1", "model_weights.h5"))
    # pyramid's own prediction of a row: the stored forests' tree features (the cached ones of
    # the rows the forests learnt on are cross-fitted), then the dense network.
    trees = final["trees"]
    inputs = full[:, results["dataset_caching"]["tree_inputs"]:-3]
    features = np.concatenate([apply_trees(trees, inputs), inputs], axis=1)
    expected = ours.keras_model.predict(features, verbose=0)
    model = create_model(result["final_model_path"])
    colours = ["blue", "green", "red"]
    # Rows of the original values at info_list's indices (0, 1, 3): the image path, the number
    # before standardising, the category name (None when missing).
    points = [[os.path.join(document["image_root"], rows.inputs[0][row]), float(rows.inputs[1][row] * 0.5 + 2.0),
               None, colours[int(rows.inputs[2][row])] if rows.inputs[2][row] >= 0 else None] for row in range(60)]
    found = np.asarray(model(points))
    report_figures("image + numeric + categorical with trees", results, np.abs(found - expected).max())
    assert np.abs(found - expected).max() < 1e-5


def report_figures(workflow, results, difference):
    """Shown with `pytest -s`: each job's time and the largest difference from sensenet."""
    times = ", ".join("%s %.2f s" % (name, result["job_time"]) for name, result in results.items())
    print("\n%s: %s; largest difference from sensenet %.3g" % (workflow, times, difference))


def dense_layers(outputs, activation, hidden=8, seed=0):
    return [{"type": "dense", "number_of_nodes": hidden, "activation_function": "relu", "seed": seed,
             "weights": "glorot_uniform", "offset": "zeros"},
            {"type": "dense", "number_of_nodes": outputs, "activation_function": activation, "seed": seed + 1,
             "weights": "glorot_uniform", "offset": "zeros"}]


def tabular_document(tmp_path, cache_file, info_list, **changes):
    document = {"job_id": "tabular", "objective_type": "categorical", "info_list": info_list,
                "cache_file": cache_file, "cache_rows": 300, "is_search": False, "tree_embedding": False,
                "max_data_size": 2**30, "parallelism": 2, "seed": 3, "output_directory": str(tmp_path / "out"),
                "layers": dense_layers(3, "softmax"), "batch_size": 32, "learning_rate": 0.01,
                "descent_algorithm": "adam", "loss_function": "crossentropy", "max_iterations": 60}
    document.update(changes)
    return document


def run_jobs(worker, tmp_path, documents):
    """Each (name, document) as a job; their results by name (failing on an error)."""
    results = {}
    for name, document in documents:
        path = tmp_path / ("%s.json" % name)
        path.write_text(json.dumps(document))
        _, results[name] = worker.job(str(path))
        assert "error" not in results[name], (name, results[name])
    return results


def own_predictions(layers, uses_trees, features_with_trees, trees, tree_columns, objective):
    """pyramid's prediction of rows by one trained dense network: the stored forests' tree
    features when it uses them, the network, numbers de-standardised."""
    from pyramid.nets.dense import DenseModel
    from pyramid.worker.trees import apply_trees

    inputs = features_with_trees[:, tree_columns:]
    features = np.concatenate([apply_trees(trees, inputs), inputs], axis=1) if uses_trees else inputs
    model = DenseModel(layers, features.shape[1])
    model.keras_model.set_weights([np.asarray(w, np.float32) for w in dense_weights(layers)])
    outputs = model.keras_model.predict(features, verbose=0)
    if objective["type"] == "numeric":
        return outputs[:, 0] * objective["stdev"] + objective["mean"]
    return outputs


def dense_weights(layers):
    return [array for layer in layers for array in (layer["weights"], layer["offset"])]


def original_rows(rows, info_list):
    """The cache's rows as a BigML row: numbers before standardising, category names."""
    points = []
    for index in range(len(rows)):
        point = [None] * (max(entry["index"] for entry in info_list[:-1]) + 1)
        for column, entry in zip(rows.inputs, info_list[:-1]):
            value = column[index]
            if entry["type"] == "numeric":
                point[entry["index"]] = float(value * entry["stdev"] + entry["mean"])
            else:
                point[entry["index"]] = entry["values"][int(value)] if value >= 0 else None
        points.append(point)
    return points


def test_tabular_search_is_sensenets(tmp_path, worker):
    """dataset_caching for a search (trees), three search submodels (with and without trees),
    finalize: the ensemble's predictions in sensenet equal the mean of pyramid's networks'."""
    from pyramid.importers import tf  # noqa: F401
    from sensenet.models.wrappers import create_model

    cache_file, info_list, rows = tabular_cache(str(tmp_path), 300)
    base = tabular_document(tmp_path, cache_file, info_list, is_search=True, model_fraction=0.5)
    output = base["output_directory"]
    full = os.path.join(output, "full_dataset.npy")
    search = {"activation_function": "relu", "balance_objective": False, "dropout_rate": 0.0,
              "largest_layer_size": 8, "learn_residuals": False, "number_of_layers": 2,
              "topology": "plain"}
    documents = [("caching", dict(base, job_type="dataset_caching"))]
    for number, trees in enumerate((True, False, True)):
        documents.append(("search%d" % number, dict(base, **search, job_type="search_submodel",
                                                    job_id="s%d" % number, cache_file=full, tree_embedding=trees,
                                                    seed=number, layers=dense_layers(3, "softmax", seed=number),
                                                    mixup_alpha=0.2 if number == 2 else None)))
    documents.append(("finalize", dict(base, job_type="finalize_output")))
    results = run_jobs(worker, tmp_path, documents)
    for number in range(3):
        submodel = results["search%d" % number]
        assert submodel["configuration_parameters"]["tree_embedding"] is (number != 1)
        assert set(submodel["evaluation_metrics"]) == {"accuracy", "auc", "likelihood", "max_phi", "ndcg"}
        evaluations = json.load(open(os.path.join(output, "submodel_s%d" % number, "evaluations.json")))
        assert len(evaluations) == 128

    final = json.load(open(results["finalize"]["final_model_path"]))
    assert len(final["candidates"]) == 3 and len(final["networks"]) == 1  # int(0.5 * 3)
    assert sorted(c["relative_value"] for c in final["candidates"])[-1] == final["candidates"][0]["relative_value"]
    assert len(final["importances"]) == 3
    tree_columns = results["caching"]["tree_inputs"]
    cached = np.load(full)[:, :-3]
    expected = np.mean([own_predictions(network["layers"], network["trees"], cached, final["trees"], tree_columns,
                                        final["output_exposition"]) for network in final["networks"]], axis=0)
    model = create_model(results["finalize"]["final_model_path"])
    found = model(original_rows(rows, info_list))
    report_figures("tabular search", results, np.abs(found - expected).max())
    assert np.abs(found - expected).max() < 1e-5


def test_numeric_tabular_model_is_sensenets(tmp_path, worker):
    from pyramid.importers import tf  # noqa: F401
    from sensenet.models.wrappers import create_model

    cache_file, info_list, rows = tabular_cache(str(tmp_path), 300)
    # The objective becomes a number: the class index, standardised.
    info_list[-1] = {"index": 3, "type": "numeric", "mean": 1.0, "stdev": 0.8}
    rows.objective = (rows.objective - 1.0) / 0.8
    write_ser(cache_file, Schema(info_list), rows)
    base = tabular_document(tmp_path, cache_file, info_list, objective_type="numeric", job_id="n1",
                            layers=dense_layers(1, "identity"), loss_function="mean_squared_error")
    full = os.path.join(base["output_directory"], "full_dataset.npy")
    results = run_jobs(worker, tmp_path, [
        ("caching", dict(base, job_type="dataset_caching")),
        ("training", dict(base, job_type="standard_training", cache_file=full)),
        ("finalize", dict(base, job_type="finalize_output")),
    ])
    assert list(results["training"]["validation_metrics"]) == [
        "mean_absolute_error", "mean_squared_error", "median_absolute_error", "r_squared", "spearman_r"]
    final = json.load(open(results["finalize"]["final_model_path"]))
    assert final["trees"] is None and final["image_network"] is None
    from pyramid.worker.outputs import read_dense_model

    _, network = read_dense_model(os.path.join(base["output_directory"], "submodel_n1"))
    expected = own_predictions(network["layers"], False, np.load(full)[:, :-1], None, 0, final["output_exposition"])
    found = np.ravel(create_model(results["finalize"]["final_model_path"])(original_rows(rows, info_list)))
    report_figures("numeric objective", results, np.abs(found - expected).max())
    assert np.abs(found - expected).max() < 1e-5


def test_instance_weights_travel_from_the_cache_to_training(tmp_path, worker):
    cache_file, info_list, rows = tabular_cache(str(tmp_path), 300)
    weights = np.where(rows.objective == 2, 5.0, 1.0)  # class_2 rows count five times
    info_list = info_list[:-1] + [{"index": 4, "type": "numeric"}, dict(info_list[-1], index=5)]
    rows = Rows(rows.inputs, weights, rows.objective)
    write_ser(cache_file, Schema(info_list, instance_weights=True), rows)
    base = tabular_document(tmp_path, cache_file, info_list, instance_weights=True, job_id="w1",
                            class_weights=[["class_0", 2.0]])
    full = os.path.join(base["output_directory"], "full_dataset.npy")
    results = run_jobs(worker, tmp_path, [
        ("caching", dict(base, job_type="dataset_caching")),
        ("training", dict(base, job_type="standard_training", cache_file=full)),
        ("finalize", dict(base, job_type="finalize_output")),
    ])
    cached = np.load(full)
    assert cached.shape == (300, 1 + 1 + 3 + 1 + 3)
    assert np.array_equal(cached[:, 5], weights.astype(np.float32))  # the weight column, before the objective
    final = json.load(open(results["finalize"]["final_model_path"]))
    assert final["weight_index"] == 3 and final["class_index"] == 4
    assert [entry["index"] for entry in final["preprocess"]] == [0, 1, 2]
