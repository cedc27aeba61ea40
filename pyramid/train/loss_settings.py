"""The `loss_function` names: for which objective each is, and the output it needs.

Plain data, without TensorFlow, so the config can check a readout against its loss before
any image is read; `pyramid.train.objectives` builds the Keras losses for the same names.

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


LOSSES = {
    "crossentropy": Loss("categorical", "softmax"),
    "hinge": Loss("categorical", "softmax"),
    "kl_divergence": Loss("categorical", "softmax"),
    "cosine": Loss("categorical", "softmax"),
    "mean_squared_error": Loss("numeric", "linear"),
    "huber": Loss("numeric", "linear"),
    "mean_percentage_error": Loss("numeric", "linear"),
}
DEFAULT = {"categorical": "crossentropy", "numeric": "mean_squared_error"}


def names(objective):
    return tuple(name for name, loss in LOSSES.items() if loss.objective == objective)
