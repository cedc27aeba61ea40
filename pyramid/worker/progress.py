"""A job's `pyramid progress - {json}` lines, which the backend shows while a job runs.

Only a document with `logging_level` 2 gets them (an exact match, as before); every job ends
with the protocol's final two lines whatever its level (`pyramid.worker.protocol`). The shapes
and key orders are the earlier implementation's (worker-jobs.md section 3).
"""

import sys
import time

# The two best-so-far metrics of a training status line, per objective.
STATUS_METRICS = {
    "categorical": ("likelihood", "accuracy"),
    "numeric": ("r_squared", "mean_squared_error"),
    "bounding_box": ("map_50_95", "map_50"),
}
MAX_STATUS_PROGRESS = 0.95


class JobReport:
    """The progress lines of one job; `job_id` is what they carry."""

    def __init__(self, protocol, job_id, logging_level):
        self.protocol = protocol
        self.job_id = job_id
        self.enabled = logging_level == 2
        self.started = time.monotonic()
        self.last_progress = 0.0

    def message(self, text, progress=0.0):
        print(text, file=sys.stderr, flush=True)  # the worker's log, at any level
        self.send({"message": text}, progress)

    def send(self, values, progress):
        self.last_progress = progress
        if self.enabled:
            self.protocol.progress({**values, "job_id": self.job_id, "progress": progress})


class TrainingProgress:
    """The `progress` a training run reports to (see `pyramid.train.records.Progress`): a
    status line at the holdout checks, at most every `interval` seconds, and the check lines
    on stderr."""

    def __init__(self, report, objective, settings, for_backend):
        self.report = report
        self.metrics = STATUS_METRICS[objective]
        self.budget = settings.max_training_time
        self.max_iterations = settings.max_iterations
        self.interval = settings.max_seconds_per_update
        self.for_backend = for_backend
        self.last_status = time.monotonic()

    def update(self, elapsed, phase, iteration, result, primary):
        now = time.monotonic()
        if now - self.last_status < self.interval:
            return
        self.last_status = now
        best = self.for_backend(result.metrics)
        status = {
            "iterations": iteration,
            "seconds_per_iteration": elapsed / max(iteration, 1),
            "time_elapsed": now - self.report.started,
            "checks": len(result.checks),
        }
        status.update({key: best[key] for key in self.metrics})
        self.report.send(status, self.fraction_done(iteration, now - self.report.started))

    def fraction_done(self, iteration, elapsed):
        done = 0.0
        if self.max_iterations:
            done = iteration / self.max_iterations
        if self.budget:
            done = max(done, elapsed / self.budget)
        return min(MAX_STATUS_PROGRESS, done)

    def line(self, text):
        print(text, file=sys.stderr, flush=True)

    def close(self):
        pass
