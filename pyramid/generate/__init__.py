"""pyramid_generate: synthetic classification and detection data sets.

Labelled foreground images (with alpha) are pasted onto background photos or synthetic
backgrounds, and the result is written as a data set plus a config that pyramid_train trains
directly. The parts, in the order they run:

- `settings`: the config's keys, what each accepts, and the checks that involve the file
  system (no TensorFlow, so config errors come first and fast);
- `sources`: the foreground and background files, their labels, and the decoded banks of
  pixels the graph reads from;
- `augmentation`: the one place that reaches the training engine's augmentations;
- `backgrounds`: photo crops and synthetic backgrounds, as graph ops;
- `compose`: one example from (seed, example index): foregrounds placed by one projective
  transform each, alpha-composited, and their boxes;
- `output`: the data set's files and config.json, written in parallel and put in place last;
- `sheets`: `--visualize` contact sheets.
"""
