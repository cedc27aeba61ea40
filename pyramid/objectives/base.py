"""The interface every objective implements (see `pyramid.objectives`)."""

import math

import numpy as np


class Objective:
    """What a network predicts, for rows given in training_data order.

    Subclasses set `name` (the `objective_type`), `primary` (the holdout metric to maximise)
    and `columns` ((metric, title) pairs of the results table), and implement the methods
    that raise NotImplementedError here.
    """

    name = None
    primary = None
    columns = ()
    metric_names = ()  # every key `metrics` returns
    classes = None  # the class names, for objectives that have classes
    strata_are_classes = False  # so the run can say how many classes the holdout misses
    # Metrics where lower is better are shown as they are; `primary` is always "higher is
    # better".
    tolerance = 1e-7

    @classmethod
    def from_config(cls, config):
        raise NotImplementedError

    # Data -------------------------------------------------------------------------------

    def strata(self):
        """A stratum id per row, for a holdout that covers every stratum."""
        raise NotImplementedError

    def balance_ids(self):
        """A class id per row to balance batches on (`balance_objective`), or None when the
        objective has no classes to balance."""
        return None

    def fit_images(self, sizes, paths):
        """Learn what the images tell: `sizes` [N, 2] (height, width) as stored, `paths`
        their files (to name them). Nothing for objectives whose labels ignore the image."""

    def notes(self):
        """Lines for the run's `Data:` line about what `fit_images` found (none here)."""
        return []

    def targets(self):
        """The training target of every row: a float32 array, one row per point."""
        raise NotImplementedError

    def row_values(self):
        """{name: array with a row per point} that every batch gathers for its rows."""
        return {"target": self.targets()}

    def keras_batches(self, document):
        """A function from a batch dict to what Keras' fit takes for the network of
        `document`: (inputs, targets, sample weights)."""
        return lambda batch: (batch["image"], batch["target"], batch["weight"])

    def training_model(self, built):
        """The Keras model to compile and fit for a BuiltModel: the model itself, unless the
        objective's loss needs its own train step."""
        return built.keras_model

    def stored_label(self, row):
        """Row `row`'s label as the worker's backend stores it (`holdout_images`): a class
        index, a standardised number, or the boxes."""
        raise NotImplementedError

    def describe_target(self, target):
        """The label a training target stands for, as a short string (contact sheets)."""
        raise NotImplementedError

    # Network ----------------------------------------------------------------------------

    # For objectives with classes: one output per class, the classes in the exposition.

    @property
    def n_outputs(self):
        return len(self.classes)

    @property
    def output_exposition(self):
        return {"type": self.name, "values": list(self.classes)}

    output_activation = None  # of the readout's last layer

    def loss(self, name):
        """The Keras loss called `name` (`loss_function`)."""
        raise NotImplementedError

    # Evaluation -------------------------------------------------------------------------

    def predictions(self, outputs, rows, document):
        """Network outputs (numpy) for `rows` as predictions in label units; `document` is
        the network's (a detector decodes with its branches)."""
        raise NotImplementedError

    def truth(self, rows):
        """What the predictions of `rows` are scored against."""
        raise NotImplementedError

    def metrics(self, predictions, truth, weights):
        """{metric: value} of `predictions` against `truth`, rows weighted by `weights`."""
        raise NotImplementedError

    def unscorable(self, predictions):
        """NaN for every metric when `predictions` are not all finite (a diverging network):
        such a check never counts as better (`is_better`)."""
        if np.all(np.isfinite(np.asarray(predictions, np.float64))):
            return None
        return {key: math.nan for key in self.metric_names}

    def is_better(self, metrics, best):
        """True when `metrics` beat `best` (None beats nothing) on the primary metric."""
        key = self.primary
        if best is None or not math.isfinite(best[key]):
            return True
        return math.isfinite(metrics[key]) and metrics[key] > best[key] + self.tolerance

    def prediction_record(self, prediction):
        """One prediction as holdout_predictions.json writes it."""
        return np.asarray(prediction).tolist()
