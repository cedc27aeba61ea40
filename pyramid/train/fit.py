"""Training one candidate network: phases, early stopping and the time budget.

The network trains with Keras `fit` on an endless dataset. A controller callback checks the
holdout at the end of every pass over the training rows, or sooner when
`max_seconds_per_update` seconds have gone by since the last check. After `patience`
consecutive checks without improvement (not counted during warmup) the best weights so far
are restored and the learning rate steps down to the next phase; after the last phase, or at
the candidate's deadline, or after `max_iterations` batches, training stops. The weights
kept are those of the single best check.

Checks judge, and the best check keeps, the moving average of the weights that the optimizer
updates after every batch (`weight_averaging`, see `pyramid.train.weight_averaging`); the
next phase starts from the best averaged weights, and the average restarts there.

A phase also ends when it has used its share of the candidate's time (`PHASE_ENDS`): when
time, not patience, is what limits training, the lower learning rates still get their turn.
Without it a network still improving at the higher rate would spend its whole budget there,
while a step down typically gains more than that rate ever would again (Fashion-MNIST,
`simple`, 300 s: 0.917 after 250 s at the first rate, 0.9285 thirty seconds after the step
down); budgeted training (Li et al., ICLR 2020) finds the same for schedules that end with
the budget.

The controller decides (stop? check the holdout now?) only every so many batches: as many as
take about `DECISION_SECONDS`, measured as training goes, so that fast networks do not pay a
clock reading and, between the workers of a cluster, a collective agreement on every batch,
while slow ones still decide after every batch. Keras also runs the batches between two
decisions in one call of its compiled step (`steps_per_execution`), saving its per-call
overhead. Executions end exactly at the end of each pass (Keras shortens the last one), at
the decisions and so at `max_iterations`. Tracing the several-batch step costs about twice
the one-batch one, so a `fit` starts with one batch per call and switches after
`SINGLE_BATCH_ITERATIONS`, and only when its batches are fast enough for
`SEVERAL_BATCHES_FROM` of them to fit in `DECISION_SECONDS`; never in a cluster (collectives inside Keras' loop are untested there).
"""

import contextlib
import itertools
import math
import os
import time

import numpy as np

from pyramid.importers import keras
from pyramid.train.devices import Agreement
from pyramid.train.optimizers import PhasedWarmupSchedule, make_optimizer
from pyramid.train.step_augmentation import training_model
from pyramid.train.weight_averaging import WeightAveraging

# Seconds of training between two decisions of the controller; more batches per execution
# barely help past this (the per-call overhead is a few hundred microseconds).
DECISION_SECONDS = 0.25
# At most this many batches between decisions, and at most this factor more than between the
# last two (a misleadingly fast measurement cannot make one interval overrun by much).
MAX_DECISION_INTERVAL = 256
GROWTH = 4
# Batches of a `fit` before it may switch to the several-batch step, whose tracing costs about
# a second of CPU more here (once per `fit`), while it saves about a millisecond per batch:
# short runs (and the tests) never pay for it; nor do batches slower than
# DECISION_SECONDS / SEVERAL_BATCHES_FROM (30 ms), for which that millisecond is noise.
SINGLE_BATCH_ITERATIONS = 200
SEVERAL_BATCHES_FROM = 8
# Tracing cannot be interrupted: switch only with more time left before the deadline than
# this many times the first batch of the `fit` took (mostly tracing the one-batch step).
SWITCH_TIME_MARGIN = 10

# Per training method: the learning-rate factor of each phase, and whether the image
# (convolutional) layers train in it. Starting from trained weights takes gentler steps;
# fine_tune (and a trained initial model) first fits the readout to the frozen features;
# use_pretrained never changes the pretrained weights.
PLANS = {
    "randomly_initialize": ((1.0, 1 / 4, 1 / 16), (True, True, True)),
    "fine_tune": ((1.0, 1 / 8, 1 / 64), (False, True, True)),
    "use_pretrained": ((1.0, 1 / 8, 1 / 64), (False, False, False)),
}


# The fraction of the candidate's time by which phase 1 (and 2) must have ended; the last phase
# runs to the end. Patience may end a phase sooner.
PHASE_ENDS = (0.5, 0.75)


def training_plan(method):
    """(learning-rate factors, image layers trainable) per phase; initial models fine-tune."""
    return PLANS.get(method, PLANS["fine_tune"])


class CandidateResult:
    """What one candidate achieved: its best holdout metrics and the weights behind them."""

    def __init__(self, topology, method, index=0):
        self.topology = topology
        self.method = method  # for an initial model, the path of its final_model.json
        self.index = index
        self.metrics = None
        self.parameters = 0
        self.iterations = 0
        self.executions = 0  # calls of Keras' compiled training step (several batches each)
        self.elapsed = 0.0
        self.time_budget = None  # seconds it was given, from its start
        self.checks = []
        self.document = None
        self.holdout_predictions = None
        self.stop_reason = None

    @property
    def method_label(self):
        return os.path.basename(self.method) if self.topology == "initial_model" else self.method

    @property
    def name(self):
        return "%s %s" % (self.topology, self.method_label)

    @property
    def directory(self):
        """Where its model_fit_info.json goes, under output_directory."""
        if self.topology == "initial_model":
            return "submodel_initial_model_%d" % self.index
        return "submodel_%s_%s" % (self.topology, self.method)


class TrainingController(keras.callbacks.Callback):
    """Checks the holdout, keeps the best weights, steps the phases down, enforces budgets."""

    def __init__(self, evaluate, agreement, objective, schedule, plan, config, deadline, result, progress, tensorboard,
                 averaging=None):
        super().__init__()
        self.averaging = averaging
        self.agreement = agreement
        self._supports_tf_logs = True  # our batch hook needs no logs: skip their conversion
        self.evaluate = evaluate
        self.objective = objective
        self.schedule = schedule
        self.phases, self.trainable = plan
        self.config = config
        self.deadline = deadline
        self.result = result
        self.progress = progress
        self.tensorboard = tensorboard
        self.last_loss = None
        self.started = time.monotonic()
        self.phase = 0
        self.failures = 0
        self.iterations = 0
        self.best_weights = None
        self.best_predictions = None
        self.last_check = self.started
        self.check_seconds = 0.0
        self.finished = False
        # The controller decides (stop? check now?) after `next_decision` batches; it
        # measures the seconds per batch since the last decision to place the next one.
        self.next_decision = 1
        self.interval_start = (0, self.started)  # (iterations, time) the measurement began
        self.interval = 1  # batches between the last two decisions
        # Keras counts the batches of each pass (epoch) from 0.
        self.pass_start = 0
        self.fit_start = 0  # iterations when the current `fit` began
        self.first_batch_seconds = None  # how long its first batch took (with tracing)
        self.several_batches = False  # whether the current `fit` runs the several-batch step
        self.executions = 0

    def on_train_begin(self, logs=None):
        if not self.result.checks:
            self.check()
        # A new `fit`, compiled afresh with one batch per execution, traces its step again:
        # decide after its first batch, then measure from there.
        self.fit_start = self.iterations
        self.several_batches = False
        self.first_batch_seconds = None
        self.next_decision = self.capped(self.iterations + 1)
        self.restart_interval()

    def on_epoch_begin(self, epoch, logs=None):
        self.pass_start = self.iterations
        # Keras also puts its own steps_per_execution back after shortening the last
        # execution of a pass.
        self.plan_execution()

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the pass's index of the execution's last batch.
        self.iterations = self.pass_start + batch + 1
        self.executions += 1
        if self.iterations < self.next_decision:
            return  # nothing to decide yet: no clock, no agreement
        self.last_loss = (logs or {}).get("loss", self.last_loss)
        now = time.monotonic()
        started_at, started = self.interval_start
        if self.first_batch_seconds is None:
            self.first_batch_seconds = now - started
        (late, due), (batch_seconds,) = self.agreement.decide(
            (self.late(now), now - self.last_check >= self.config.max_seconds_per_update),
            ((now - started) / max(1, self.iterations - started_at),),
        )
        if not self.out_of_budget(late) and due:
            self.check()
        self.interval = self.batches_for(batch_seconds)
        self.next_decision = self.capped(self.iterations + self.interval)
        self.restart_interval()
        self.plan_execution()

    def on_epoch_end(self, epoch, logs=None):
        self.last_loss = (logs or {}).get("loss", self.last_loss)
        if not self.model.stop_training:
            late = self.agreement.any(self.late(time.monotonic()))
            if not self.out_of_budget(late):
                self.check()
                self.restart_interval()  # the check is not training time

    def batches_for(self, batch_seconds):
        """Batches until the next decision, from the seconds per batch since the last one
        (the same on every worker: `batch_seconds` is agreed on)."""
        batches = int(DECISION_SECONDS / max(batch_seconds, 1e-9))
        return max(1, min(batches, GROWTH * self.interval, MAX_DECISION_INTERVAL))

    def capped(self, iteration):
        max_iterations = self.config.max_iterations
        return iteration if max_iterations is None else min(iteration, max_iterations)

    def restart_interval(self):
        self.interval_start = (self.iterations, time.monotonic())

    def plan_execution(self):
        """Make the next Keras execution end at the next decision (or the pass's end): one
        batch per execution until the several-batch step pays (see the module's notes)."""
        steps = max(1, self.next_decision - self.iterations)
        if steps > 1 and not self.several_batches:
            time_left = self.deadline - time.monotonic()
            if (self.agreement.active or self.interval < SEVERAL_BATCHES_FROM
                    or self.iterations - self.fit_start < SINGLE_BATCH_ITERATIONS
                    or time_left < SWITCH_TIME_MARGIN * self.first_batch_seconds):
                steps = 1
            else:
                self.switch_to_several_batches(steps)
        self.model.steps_per_execution.assign(steps)

    def switch_to_several_batches(self, steps):
        """Replace the running `fit`'s one-batch step by Keras' several-batch one (Keras
        builds that when steps_per_execution is above one; `fit` calls `model.train_function`
        afresh for every execution)."""
        self.model.steps_per_execution.assign(steps)
        self.model.train_function = self.model.make_train_function(force=True)
        self.several_batches = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def late(self, now):
        # Stop rather than start a check that would end past the deadline.
        return now + self.check_seconds >= self.deadline

    def out_of_budget(self, late):
        max_iterations = self.config.max_iterations
        if late:
            return self.stop("time budget used")
        if max_iterations is not None and self.iterations >= max_iterations:
            return self.stop("max_iterations reached")
        return False

    def stop(self, reason):
        """Stop `fit`: for good when there is a reason, else to retrain with other layers."""
        self.model.stop_training = True
        if reason:
            self.result.stop_reason = reason
            self.finished = True
        return True

    def check(self):
        began = time.monotonic()
        with self.averaged():
            metrics, predictions = self.evaluate()
            improved = self.agreement.chief(self.objective.is_better(metrics, self.result.metrics))
            if improved:
                self.best_weights = self.model.get_weights()
        self.last_check = time.monotonic()
        self.check_seconds = self.last_check - began
        if improved:
            self.result.metrics = metrics
            self.best_predictions = predictions
            self.failures = 0
        elif self.iterations >= self.config.learning_rate_warmup_iterations:
            self.failures += 1

        self.record(metrics, improved)
        if self.failures >= self.config.patience:
            self.next_phase("%d checks without improvement" % self.failures)
        elif self.phase_time_used():
            self.next_phase("its share of the time used")

    def averaged(self):
        if self.averaging is None:
            return contextlib.nullcontext()
        return self.averaging.averaged(self.model)

    def phase_time_used(self):
        """Whether the phase, not the last, has trained past its share of the candidate's
        time (`PHASE_ENDS`; never inside the warmup, which is not over yet)."""
        if self.phase + 1 >= len(self.phases) or self.phase >= len(PHASE_ENDS):
            return False
        if self.iterations < self.config.learning_rate_warmup_iterations:
            return False
        # The agreed answer: the workers' clocks may disagree by a check or so.
        elapsed = time.monotonic() - self.started
        return self.agreement.chief(elapsed >= PHASE_ENDS[self.phase] * (self.deadline - self.started))

    def next_phase(self, reason):
        self.phase += 1
        self.failures = 0
        if self.phase >= len(self.phases):
            self.stop("holdout stopped improving")
            return
        self.model.set_weights(self.best_weights)
        if self.averaging is not None:
            self.averaging.restart(self.model)
        self.schedule.phase_factor.assign(self.phases[self.phase])
        self.progress.line(
            "  phase %d (%s): learning rate x%g from the best weights so far%s"
            % (self.phase + 1, reason, self.phases[self.phase], self.describe_layers())
        )
        if self.trainable[self.phase] != self.trainable[self.phase - 1]:
            self.stop(None)

    def describe_layers(self):
        return "" if self.trainable[self.phase] else ", convolutional layers frozen"

    def record(self, metrics, improved):
        elapsed = time.monotonic() - self.started
        self.result.checks.append(
            {"iteration": self.iterations, "seconds": round(elapsed, 3), "phase": self.phase + 1, **metrics}
        )
        shown = " ".join("%s %.4f" % (key, value) for key, value in metrics.items())
        primary = self.objective.primary
        self.progress.update(elapsed, self.phase + 1, self.iterations, self.result, primary)
        learning_rate = float(self.schedule(self.iterations - 1)) if self.iterations else 0.0
        loss = None if self.last_loss is None else float(self.last_loss)
        self.tensorboard.check(self.iterations, metrics, learning_rate, loss)
        self.progress.line(
            "  iteration %6d  phase %d  %6.1fs  %s  (best %s %.4f)%s"
            % (
                self.iterations, self.phase + 1, elapsed, shown, primary,
                self.result.metrics[primary], "  *" if improved else "",
            )
        )


def predict_directly(model, batches):
    """What `model.predict` gives (an array, or a list of arrays for several outputs), from
    calling the model on each batch in this process."""
    outputs = [model(images, training=False) for images in batches]
    if isinstance(outputs[0], (list, tuple)):
        return [np.concatenate([batch[i].numpy() for batch in outputs]) for i in range(len(outputs[0]))]
    return np.concatenate([batch.numpy() for batch in outputs])


def training_optimizer(config, learning_rate, precision, averaging=None):
    """The config's optimizer, keeping `averaging`'s average of the weights when given;
    under mixed_float16 wrapped in dynamic loss scaling (float16 gradients underflow without
    it; bfloat16 has float32's range)."""
    optimizer = make_optimizer(config, learning_rate, averaging)
    if precision == "mixed_float16":
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def fit_candidate(built, data, config, deadline, result, progress, tensorboard):
    """Train `built` (a BuiltModel) on `data` until a stopping rule fires; fill `result`."""
    objective = data.objective
    agreement = Agreement()
    schedule = PhasedWarmupSchedule(config.learning_rate, config.learning_rate_warmup_iterations)
    model = objective.training_model(built)

    def evaluate():
        # Always through float32 weights and arithmetic: these predictions are the output.
        evaluation_model = built.evaluation_model()
        if agreement.active or evaluation_model.jit_compile:
            # Keras' predict would split the holdout over the workers; every worker scores it
            # all, calling the model directly. Under XLA, Keras' predict would be compiled
            # by XLA too, whose fused arithmetic is not quite sensenet's.
            outputs = predict_directly(evaluation_model, data.holdout_batches())
        else:
            outputs = evaluation_model.predict(data.holdout_batches(), verbose=0)
        predictions = objective.predictions(outputs, data.holdout_rows, built.document)
        metrics = objective.metrics(predictions, data.holdout_truth, data.holdout_weights)
        return metrics, predictions

    plan = training_plan(result.method)
    # The worker's dense jobs pass their job settings, which have no weight_averaging.
    momentum = getattr(config, "weight_averaging", 0.0)
    averaging = WeightAveraging(momentum) if momentum else None
    controller = TrainingController(
        evaluate, agreement, objective, schedule, plan, config, deadline, result, progress, tensorboard, averaging
    )
    steps_per_pass = max(1, math.ceil(len(data.train_rows) / config.batch_size))
    # The worker's dense jobs pass their job settings, which have no jit_compile (no XLA).
    jit_compile = getattr(config, "jit_compile", False)
    # One `fit` per run of phases with the same trainable layers: changing them needs a new
    # optimizer, whose step count the schedule continues from so warmup never restarts.
    for stream in itertools.count():
        if controller.finished:
            break
        for layer in built.body_layers:
            layer.trainable = controller.trainable[controller.phase]
        schedule.step_offset.assign(controller.iterations)
        # A new optimizer, so a step counter from 0, like the stream's batch numbers: under
        # augmentation_placement "device" the step augments by that counter.
        optimizer = training_optimizer(config, schedule, built.precision, averaging)
        trainer = training_model(model, data.step_augmenter(stream))
        # One batch per execution to start with; the controller sets how many.
        trainer.compile(optimizer=optimizer, loss=objective.loss(config.loss_function),
                        steps_per_execution=1, jit_compile=jit_compile)
        # A new stream of batches for each fit, so that no batch order or draw repeats.
        batches = data.training_batches(stream, built.document)
        trainer.fit(batches, epochs=2**31 - 1, steps_per_epoch=steps_per_pass, callbacks=[controller], verbose=0)

    result.iterations = controller.iterations
    result.executions = controller.executions
    result.holdout_predictions = controller.best_predictions
    result.document = built.document_with_weights()
    return result
