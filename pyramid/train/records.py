"""What a candidate's training leaves behind: progress, TensorBoard logs and a plot.

- progress: a bar per candidate (phase, iteration, elapsed and remaining time, best holdout
  metric) when stdout is a terminal, and one plain line per holdout check otherwise (logs
  of BigML's backend and of CI);
- TensorBoard: `output_directory/tensorboard/<candidate>/` holds the training loss, the
  holdout metrics and the learning rate at every check, and a few augmented input images;
- `output_directory/<candidate>/holdout.png`: the holdout metric against time.
"""

import os
import shutil
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from tqdm import tqdm  # noqa: E402

from pyramid.importers import tf  # noqa: E402

SAMPLE_IMAGES = 6


class Progress:
    """A progress bar on a terminal, plain lines elsewhere."""

    def __init__(self, name, budget_seconds, log, stream=None):
        self.log = log
        stream = stream or sys.stdout
        self.bar = None
        if stream.isatty():
            # A terminal that reports no size (a bare pseudo-terminal) would get no bar at all.
            columns, lines = shutil.get_terminal_size((100, 20))
            self.bar = tqdm(total=round(budget_seconds, 1), desc=name, unit="s", file=stream,
                            ncols=columns, nrows=lines,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}s {postfix}")

    def update(self, elapsed, phase, iteration, result, primary):
        """After a holdout check: `result` (a CandidateResult) has the best metrics and the
        checks so far; `primary` is the metric candidates are compared on."""
        if self.bar is not None:
            self.bar.n = min(round(elapsed, 1), self.bar.total)
            best = "%s %.4f" % (primary, result.metrics[primary])
            self.bar.set_postfix_str("phase %d, iteration %d, best %s" % (phase, iteration, best), refresh=True)

    def line(self, text):
        if self.bar is not None:
            self.bar.write(text)
        else:
            self.log(text)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class TensorBoard:
    """Scalars and images for one candidate, in TensorBoard's event files (no files when
    `directory` is None: the workers of a cluster other than the chief write nothing)."""

    def __init__(self, directory):
        self.writer = tf.summary.create_file_writer(directory) if directory else tf.summary.create_noop_writer()

    def images(self, batch):
        with self.writer.as_default():
            tf.summary.image("augmented training images", batch[:SAMPLE_IMAGES] / 255.0, step=0,
                             max_outputs=SAMPLE_IMAGES)

    def check(self, iteration, metrics, learning_rate, loss):
        with self.writer.as_default():
            for key, value in metrics.items():
                tf.summary.scalar("holdout/" + key, value, step=iteration)
            tf.summary.scalar("learning_rate", learning_rate, step=iteration)
            if loss is not None:
                tf.summary.scalar("training_loss", loss, step=iteration)
        self.writer.flush()

    def close(self):
        self.writer.close()


def plot_checks(checks, metric, title, path):
    """The holdout `metric` at every check against seconds since the candidate started."""
    figure, axes = plt.subplots(figsize=(6, 4))
    seconds = [check["seconds"] for check in checks]
    axes.plot(seconds, [check[metric] for check in checks], marker=".")
    for phase in sorted({check["phase"] for check in checks})[1:]:
        start = next(check["seconds"] for check in checks if check["phase"] == phase)
        axes.axvline(start, color="grey", linestyle=":", label="phase %d" % phase)
    axes.set_xlabel("seconds")
    axes.set_ylabel("holdout " + metric)
    axes.set_title(title)
    if any(check["phase"] > 1 for check in checks):
        axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
