"""horizontal_flip: with probability 0.5, mirror the image left to right."""

from pyramid.augment.base import Flip


class HorizontalFlip(Flip):
    axis = 2  # the image axis it reverses: columns


AUGMENTATION = HorizontalFlip
