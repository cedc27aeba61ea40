"""The sixteen augmentations, each in the module of its name, as batched TensorFlow graph ops.

`registry` lists them (with their defaults and ranges); `base` says what an augmentation
is; `augmenter.Augmenter` applies a config's to batches of images and boxes.
"""
