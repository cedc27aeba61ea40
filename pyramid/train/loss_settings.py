"""The `loss_function` names: for which objective each is, the output it needs and the
Keras loss that computes it.

Plain data, without TensorFlow, so the config can check a readout against its loss before
any image is read; the objectives (`pyramid.objectives`) build the Keras losses from it.

Output activations, one per loss (checked against the readout's last activation):
- every categorical loss needs `softmax`: the written model's outputs are read as class
  probabilities (by sensenet, BigML and the holdout's likelihood and AUC), and crossentropy
  and kl_divergence are only defined on distributions; hinge and cosine train well on them.
- every numeric loss needs `linear`: the network predicts standardised labels, which take
  any value of either sign; mean_percentage_error is computed in label units from them.
"""

from typing import NamedTuple


class Loss(NamedTuple):
    objective: str  # "categorical" or "numeric"
    output_activation: str
    keras_class: str  # in keras.losses; None: the objective computes it itself


LOSSES = {
    "crossentropy": Loss("categorical", "softmax", "CategoricalCrossentropy"),
    "hinge": Loss("categorical", "softmax", "CategoricalHinge"),
    "kl_divergence": Loss("categorical", "softmax", "KLDivergence"),
    "cosine": Loss("categorical", "softmax", "CosineSimilarity"),
    "mean_squared_error": Loss("numeric", "linear", "MeanSquaredError"),
    "huber": Loss("numeric", "linear", "Huber"),
    # In label units (see pyramid.objectives.numeric).
    "mean_percentage_error": Loss("numeric", "linear", None),
}
DEFAULT = {"categorical": "crossentropy", "numeric": "mean_squared_error"}


def names(objective):
    return tuple(name for name, loss in LOSSES.items() if loss.objective == objective)
