"""vertical_flip: with probability 0.5, mirror the image top to bottom."""

from pyramid.augment.base import Flip


class VerticalFlip(Flip):
    axis = 1  # the image axis it reverses: rows


AUGMENTATION = VerticalFlip
