"""What a finished job leaves in the process, taken away before the next one starts.

- Keras' session: every model, layer name counter and graph of the job (`clear_session`).
- TensorFlow's process-wide gradient registry: every graph-mode `tf.custom_gradient` call
  registers its gradient under a new name there and nothing ever removes it. tf.distribute's
  `all_reduce` is one (Keras calls it in every traced train step, under any strategy), and
  through that entry the whole traced train function of the job stays alive: about 7 MB a job
  for a small network, measured (benchmarks/worker.py). The entries a job added are removed
  once its functions are gone.
"""

import gc

from pyramid.importers import keras
from tensorflow.python.framework import ops  # the registry has no public API

CUSTOM_GRADIENT = "CustomGradient-"


def custom_gradients():
    return {name for name in ops._gradient_registry._registry if name.startswith(CUSTOM_GRADIENT)}


class JobState:
    """`JobState()` before a job, `.reset()` after it."""

    def __init__(self):
        self.gradients_before = custom_gradients()

    def reset(self):
        keras.backend.clear_session()
        registry = ops._gradient_registry._registry
        for name in custom_gradients() - self.gradients_before:
            del registry[name]
        gc.collect()
