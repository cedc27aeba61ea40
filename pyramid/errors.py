"""Errors caused by what the user gave us: reported as one line, never a traceback."""


class InputError(Exception):
    """Bad input from the user; its message is one complete line."""


class ConfigError(InputError):
    """A config value that is missing, unknown, of the wrong type or out of range."""


class ImageFileError(InputError):
    """An image file that is missing or cannot be decoded."""

    def __init__(self, path, reason):
        super().__init__("cannot read image %s: %s" % (path, reason))
        self.path = path


class WeightsError(InputError):
    """Pretrained weights or an initial model that are missing or do not fit."""
