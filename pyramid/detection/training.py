"""Training a YOLO network: a Keras model whose train step computes the YOLO loss.

The network's outputs are its raw heads; the batch's targets (per-branch labels and the
true boxes, from `pyramid.detection.targets`) arrive as the dataset's target dict, so Keras'
fit, callbacks, optimizers (loss scaling included) and tf.distribute work as for any model.
"""

import copy
import math

from pyramid.detection.loss import yolo_loss
from pyramid.importers import keras, tf

# Objectness heads start at this probability: with thousands of anchors and a few objects,
# starting at 0.5 everywhere makes the first steps fight an enormous background loss.
OBJECTNESS_PRIOR = 0.01


class Heads:
    def __init__(self, branches, input_size, n_classes):
        self.branches = branches
        self.input_size = input_size
        self.n_classes = n_classes


class YoloTrainer(keras.Model):
    """Trains `network` (raw heads per branch) on (images, targets, weights) batches."""

    def __init__(self, network, branches, input_size, n_classes):
        super().__init__()
        self.network = network
        # Not an attribute Keras tracks: it would wrap the branch dicts in place, inside the
        # document that is written out as JSON.
        self.heads = Heads(copy.deepcopy(branches), input_size, n_classes)

    def call(self, images, training=False):
        return self.network(images, training=training)

    def image_losses(self, images, targets, training):
        raw = self.network(images, training=training)
        raw = raw if isinstance(raw, (list, tuple)) else [raw]
        heads = self.heads
        return yolo_loss(raw, targets["labels"], targets["true_boxes"], targets["valid"],
                         heads.branches, heads.input_size, heads.n_classes)

    def train_step(self, data):
        images, targets, weights = data
        with tf.GradientTape() as tape:
            per_image = self.image_losses(images, targets, training=True)
            # The mean over the global batch, so replicas' gradients add up to it.
            loss = tf.nn.compute_average_loss(per_image * weights)
            if self.network.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.network.losses))
        self.optimizer.minimize(loss, self.network.trainable_variables, tape=tape)
        return {"loss": loss}

    def get_weights(self):
        return self.network.get_weights()

    def set_weights(self, weights):
        self.network.set_weights(weights)


def set_objectness_prior(built, branches, n_classes, prior=OBJECTNESS_PRIOR):
    """Start every head's objectness bias at logit(prior), its other weights unchanged.
    `built`: a BuiltModel, whose image layer `branch["input"]` is the branch's head."""
    logit = math.log(prior / (1.0 - prior))
    for branch in branches:
        head = built.image_layers[branch["input"]]
        kernel, bias = head.get_weights()
        bias = bias.reshape(len(branch["anchors"]), 5 + n_classes)
        bias[:, 4] = logit
        head.set_weights([kernel, bias.reshape(-1)])
