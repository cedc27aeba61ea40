"""pyramid: trains image networks with TensorFlow and writes BigML deepnet JSON."""

__version__ = "0.5.0"
