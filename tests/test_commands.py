"""The installed commands as a user runs them: exit codes, output lines, no tracebacks."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CHECKOUT, training_config, write_config


def run(arguments, stdin=None, timeout=300, env=None):
    environment = dict(os.environ, **(env or {}))
    # Run this checkout's code whatever the working directory.
    environment["PYTHONPATH"] = CHECKOUT
    return subprocess.run(
        [sys.executable, *arguments], input=stdin, capture_output=True, text=True,
        timeout=timeout, env=environment,
    )


def test_pyramid_train_runs_and_reports(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = training_config(image_root, str(tmp_path / "out"), points, max_total_time=600, max_iterations=20)
    path = write_config(tmp_path / "config.json", config)

    # --max-total-time overrides the config's 600 seconds.
    finished = run(["-m", "pyramid.commands.train", "--max-total-time", "30", path])
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == "Pyramid is parsing training file..."
    testing = [line for line in lines if line.startswith("Testing simple randomly_initialize for ")]
    assert 25 < float(testing[0].split()[-2]) <= 30
    assert any(line.startswith("simple           randomly_initialize") for line in lines)
    assert "Traceback" not in finished.stderr
    with open(tmp_path / "out" / "final_model.json") as stream:
        assert json.load(stream)["training_options"]["max_total_time"] == 30


@pytest.mark.parametrize("max_data_size", [10**9, 0], ids=["in-memory", "streamed"])
def test_corrupt_image_is_named_with_status_2(digits_dir, tmp_path, max_data_size):
    image_root, points = digits_dir
    broken = tmp_path / "broken.png"
    with open(os.path.join(image_root, points[0]["file"]), "rb") as stream:
        broken.write_bytes(stream.read()[:60])  # a PNG header, then nothing
    for point in points:
        point_root = os.path.join(image_root, point["file"])
        os.symlink(point_root, tmp_path / point["file"])
    points = points + [{"file": "broken.png", "label": "1"}]
    config = training_config(str(tmp_path), str(tmp_path / "out"), points, max_iterations=50,
                             max_data_size=max_data_size)
    finished = run(["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)])

    assert finished.returncode == 2
    assert finished.stderr.strip().count("\n") == 0, finished.stderr
    assert "broken.png" in finished.stderr and "Traceback" not in finished.stderr
    assert not (tmp_path / "out" / "final_model.json").exists()


def test_a_file_sensenet_would_misread_is_refused_before_training(digits_dir, tmp_path):
    from PIL import Image

    image_root, points = digits_dir
    for point in points:
        os.symlink(os.path.join(image_root, point["file"]), tmp_path / point["file"])
    # A BMP named .png: sensenet would decode it with TensorFlow's JPEG decoder, and fail.
    Image.open(os.path.join(image_root, points[0]["file"])).save(tmp_path / "bitmap.png", "BMP")
    points = points + [{"file": "bitmap.png", "label": "1"}]
    config = training_config(str(tmp_path), str(tmp_path / "out"), points, max_iterations=5)
    finished = run(["-m", "pyramid.commands.train", write_config(tmp_path / "config.json", config)])

    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "pyramid_train: cannot read image %s: it is a BMP file named .png; sensenet decodes "
        ".png files with TensorFlow's JPEG decoder, which cannot read it: rename it .bmp "
        "(sensenet then reads it with Pillow)"
        % (tmp_path / "bitmap.png")
    )
    assert not any(line.startswith("Testing") for line in finished.stdout.splitlines())


def test_package_imports_without_a_gpu():
    finished = run(
        ["-c", "import pyramid.train.run, pyramid.importers as i; print(i.tf.config.list_physical_devices('GPU'))"],
        env={"CUDA_VISIBLE_DEVICES": ""},
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().splitlines()[-1] == "[]"


def test_worker_speaks_the_protocol(tmp_path):
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"job_id": "j1", "job_type": "image_training"}))
    stdin = "%s\n/no/such/job.json\nterminate\n" % job
    finished = run(["-m", "pyramid.commands.worker", "5"], stdin=stdin, timeout=60)

    assert finished.returncode == 0
    lines = finished.stdout.splitlines()
    assert lines[0].startswith("pyramid process ready - version ")
    complete = [json.loads(line.split(" - ", 1)[1]) for line in lines if line.startswith("pyramid job complete - ")]
    assert complete[0] == {"job_id": "j1", "error": "job type image_training is not supported yet"}
    assert complete[1] == {"job_id": None, "error": 'job file "/no/such/job.json" does not exist'}


class Worker:
    """The real `pyramid` process, its stdin written as a backend writes it, its stdout read
    line by line as the lines come (a thread per process, so a missing reply times out)."""

    def __init__(self, idle_timeout):
        import queue
        import threading

        environment = dict(os.environ, PYTHONPATH=CHECKOUT)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyramid.commands.worker", str(idle_timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
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

    def line(self, timeout=30):
        return self.lines.get(timeout=timeout)

    def completion(self, timeout=30):
        """The next job complete line's JSON (progress lines before it are skipped)."""
        while True:
            line = self.line(timeout)
            if line.startswith("pyramid job complete - "):
                return json.loads(line.split(" - ", 1)[1])


def test_worker_reads_each_line_as_it_comes(tmp_path):
    import time

    jobs = {}
    for name in ("a", "b", "c"):
        jobs[name] = tmp_path / ("%s.json" % name)
        jobs[name].write_text(json.dumps({"job_id": name, "job_type": "image_training"}))
    # An idle timeout far longer than the test waits: only reading the lines ends it in time.
    worker = Worker(idle_timeout=600)
    try:
        assert worker.line().startswith("pyramid process ready - version ")
        worker.write("%s\n" % jobs["a"])
        assert worker.completion()["job_id"] == "a"
        # Two lines in one write: both jobs are answered while stdin stays open.
        worker.write("%s\n%s\n" % (jobs["b"], jobs["c"]))
        assert worker.completion()["job_id"] == "b"
        assert worker.completion()["job_id"] == "c"
        # A line written in two parts, with a pause between them.
        worker.write(str(jobs["a"])[:5])
        time.sleep(0.5)
        worker.write(str(jobs["a"])[5:] + "\n")
        assert worker.completion()["job_id"] == "a"
        # A job and terminate in one write: the job is answered, then the process ends.
        worker.write("%s\nterminate\n" % jobs["c"])
        assert worker.completion()["job_id"] == "c"
        assert worker.process.wait(timeout=30) == 0
    finally:
        worker.process.kill()
        worker.process.wait()


def bad_jobs(directory):
    """(what the line is, the line, the error result) for every way a job line can be bad."""
    def document(name, content):
        path = directory / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    good = document("good.json", {"job_id": "g1", "job_type": "image_training"})
    return [
        ("missing", str(directory / "nowhere.json"),
         {"job_id": None, "error": 'job file "%s" does not exist' % (directory / "nowhere.json")}),
        ("trailing-space", good + " ",
         {"job_id": None, "error": 'job file "%s " does not exist (the line has spaces or a carriage return around the path)' % good}),
        ("carriage-return", good + "\r",
         {"job_id": None, "error": 'job file "%s\\r" does not exist (the line has spaces or a carriage return around the path)' % good}),
        ("directory", str(directory), {"job_id": None, "error": 'job file "%s" is a directory, not a JSON file' % directory}),
        ("not-json", document("text.json", "job_type = training"),
         {"job_id": None, "error": 'job file "%s" is not valid JSON: Expecting value at line 1, column 1' % (directory / "text.json")}),
        ("not-an-object", document("list.json", [{"job_id": "x"}]),
         {"job_id": None, "error": 'job file "%s" holds a list, not a JSON object' % (directory / "list.json")}),
        ("no-job_type", document("untyped.json", {"job_id": "u1"}),
         {"job_id": "u1", "error": 'missing required key "job_type"; expected one of dataset_caching, finalize_output, image_training, search_submodel, standard_training'}),
        ("unknown-job_type", document("unknown.json", {"job_id": "k1", "job_type": "model_training"}),
         {"job_id": "k1", "error": 'job_type: "model_training" is not allowed; expected one of dataset_caching, finalize_output, image_training, search_submodel, standard_training'}),
        ("no-job_id", document("anonymous.json", {"job_type": "finalize_output"}),
         {"job_id": None, "error": "job type finalize_output is not supported yet"}),
    ], good


def test_worker_answers_every_bad_job_and_reads_on(tmp_path):
    cases, good = bad_jobs(tmp_path)
    worker = Worker(idle_timeout=600)
    try:
        assert worker.line().startswith("pyramid process ready - version ")
        for name, line, expected in cases:
            worker.write(line + "\n")
            assert worker.line() == 'pyramid progress - {"progress": 1.0}', name
            assert worker.completion() == expected, name
            # The same process answers the next job.
            worker.write(good + "\n")
            assert worker.completion() == {"job_id": "g1", "error": "job type image_training is not supported yet"}
        worker.write("terminate\n")
        assert worker.exit_status() == 0
        assert worker.lines.empty()  # nothing after the last answer: no stray output
    finally:
        worker.process.kill()
        worker.process.wait()


def test_worker_idle_timeout_prints_an_empty_line_and_exits_0():
    worker = Worker(idle_timeout=1)
    try:
        assert worker.line().startswith("pyramid process ready - version ")
        assert worker.line() == ""
        assert worker.exit_status() == 0
        assert worker.lines.empty()
    finally:
        worker.process.kill()
        worker.process.wait()


@pytest.mark.parametrize("ending", ["terminate\n", "\n", ""], ids=["terminate", "empty-line", "end-of-input"])
def test_worker_ends_quietly(ending):
    worker = Worker(idle_timeout=600)
    try:
        assert worker.line().startswith("pyramid process ready - version ")
        worker.write(ending)
        worker.process.stdin.close()
        assert worker.exit_status() == 0
        assert worker.lines.empty()
    finally:
        worker.process.kill()
        worker.process.wait()


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
    finished = run(["-c", script], timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == 'pyramid progress - {"progress": 1.0}\npyramid job complete - {"job_id": "j"}\n'
    assert "a stray print" in finished.stderr and "24ms/step" in finished.stderr


def test_worker_version():
    finished = run(["-m", "pyramid.commands.worker", "--version"], timeout=60)
    assert finished.returncode == 0
    assert finished.stdout.startswith("Pyramid ")


def test_visualize_writes_contact_sheets_and_trains_nothing(digits_dir, tmp_path):
    image_root, points = digits_dir
    config = training_config(
        image_root, str(tmp_path / "out"), points,
        augmentation_ranges={"rotation": 20, "cutout": 0.3, "horizontal_flip": True},
    )
    finished = run(["-m", "pyramid.commands.train", "--visualize=2", write_config(tmp_path / "c.json", config)])
    assert finished.returncode == 0, finished.stderr
    sheets = [line for line in finished.stdout.splitlines() if line.endswith(".png")]
    assert sheets == [str(tmp_path / "out" / "visualize" / ("batch_%03d.png" % n)) for n in (1, 2)]
    from PIL import Image

    with Image.open(sheets[0]) as sheet:
        assert sheet.size[0] >= 4 * 64  # 16 tiles of at least 64 pixels, 4 to a row
    assert not (tmp_path / "out" / "final_model.json").exists()


def test_progress_bar_on_a_terminal_and_records(digits_dir, tmp_path):
    image_root, points = digits_dir
    output = tmp_path / "out"
    config = training_config(image_root, str(output), points, max_iterations=30)
    command = "%s -m pyramid.commands.train %s" % (sys.executable, write_config(tmp_path / "c.json", config))
    # `script` runs the command on a pseudo-terminal, as a user at a shell would.
    finished = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=CHECKOUT), cwd=str(tmp_path),
    )
    assert finished.returncode == 0, finished.stdout[-2000:]
    assert "simple randomly_initialize: " in finished.stdout and "%|" in finished.stdout
    assert "best likelihood" in finished.stdout

    candidate = output / "submodel_simple_randomly_initialize"
    assert (candidate / "holdout.png").stat().st_size > 1000
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(output / "tensorboard" / "submodel_simple_randomly_initialize"))
    events.Reload()
    tags = events.Tags()
    assert {"holdout/likelihood", "holdout/accuracy", "learning_rate", "training_loss"} <= set(tags["tensors"])
    assert "augmented training images" in tags["tensors"] or tags["images"]
