"""The one place that imports TensorFlow, so that its environment is set first.

sensenet builds tf-keras (Keras 2) models, so `TF_USE_LEGACY_KERAS` must be set before
TensorFlow is imported anywhere; every pyramid module gets TensorFlow from here.
"""

import logging
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

logging.getLogger("tensorflow").setLevel(logging.ERROR)

import sensenet.importers  # noqa: E402,F401  (loads sensenet's tree op and settings)

keras = tf.keras

__all__ = ["tf", "keras"]
