"""The Augmenter: a config's active augmentations applied to batches of images (and boxes).

It takes float32 images [B, H, W, 3] (0..255) and the batch's number in the stream, draws
every augmentation's random parameters for the batch (stateless, from (seed, batch number,
augmentation)), and applies them in `registry.AUGMENTATIONS` order, so that a batch costs
little more than one pass over its pixels:

- the geometric augmentations' maps are multiplied into one per image and applied by one
  bilinear resampling (`resampling.warp`), or by one pass per axis when the maps keep x and
  y apart (zoom, shifts, flips: `resampling.separable`), or by reversal when only flips are
  active; boxes go through the same maps;
- consecutive colour steps (brightness, contrast, tint, inversion) compose into one
  multiply-add per image and channel;
- the pixel work runs compiled by XLA, which fuses it into a few passes (about a quarter of
  the CPU time of the same ops uncompiled), except blur (per-image sizes), which runs
  between compiled stages; the result is clipped to 0..255 (unless the pixels were only
  moved, which cannot leave that range).

The same seed gives the same batches whatever the parallelism, and every batch (so every
epoch) gets fresh draws.
"""

from pyramid.augment import registry
from pyramid.augment.base import ColourStep, Draws, Geometric
from pyramid.augment.boxes import transform_boxes
from pyramid.augment.resampling import reverse, separable, warp
from pyramid.importers import tf


class Augmenter:
    """Applies the active augmentations, {name: n}, to batches of images (and boxes).

    `compile=False` runs the same steps without XLA (tests compare the two)."""

    def __init__(self, parameters, seed, compile=True):
        unknown = set(parameters) - set(registry.NAMES)
        if unknown:
            raise ValueError("unknown augmentations: %s" % sorted(unknown))
        self.parameters = dict(parameters)
        self.seed = int(seed)
        self.augmentations = [registry.build(name, parameters[name]) for name in registry.AUGMENTATIONS
                              if name in parameters]
        self.geometric = [step for step in self.augmentations if isinstance(step, Geometric)]
        self.compile = compile
        self.stages = self._stages(self._steps(move=True))
        self.pixel_stages = None  # made when `pixels` is first called

    def __bool__(self):
        return bool(self.parameters)

    def __call__(self, images, batch_index, boxes=None):
        """Augmented images; with `boxes` [B, M, 4], also (boxes, kept [B, M])."""
        height, width = images.shape[1], images.shape[2]
        drawn = self.draw(Draws(self.seed, batch_index, tf.shape(images)[0]), height, width)
        forward, inverse = self.geometry(drawn, height, width)
        for stage in self.stages:
            images = stage(images, drawn, inverse)
        if boxes is None:
            return images
        if forward is None:
            return images, boxes, tf.ones(tf.shape(boxes)[:2], tf.bool)
        return (images, *transform_boxes(boxes, forward, height, width))

    @property
    def only_flips(self):
        """True when the only geometric augmentations are flips: a flip maps pixel centres
        onto pixel centres, so reversing the chosen images gives exactly the resampling's
        pixels, at a fraction of its cost."""
        return all(step.reverses_only for step in self.geometric)

    def draw(self, draws, height, width):
        """{name: parameters} of every active augmentation for one batch, from `draws`."""
        return {step.name: step.draw(draws, height, width) for step in self.augmentations}

    def pixels(self, images, drawn):
        """Only the augmentations that are not geometric, with the parameters `drawn`, and the
        clipping (data generation moves its images itself)."""
        if self.pixel_stages is None:
            self.pixel_stages = self._stages(self._steps(move=False))
        for stage in self.pixel_stages:
            images = stage(images, drawn, None)
        return images

    def geometry(self, drawn, height, width):
        """(forward, inverse) [B, 3, 3] products of the geometric augmentations' maps for the
        parameters `drawn`, or Nones when there are none."""
        forward = inverse = None
        for step in self.geometric:
            one_way, back = step.matrices(drawn[step.name], height, width)
            forward = one_way if forward is None else one_way @ forward
            inverse = back if inverse is None else inverse @ back
        return forward, inverse

    # Stages -----------------------------------------------------------------------------

    def _steps(self, move):
        """[(compiles, [steps])]: the work in order (resampling first if `move`), consecutive
        steps that XLA compiles grouped so that each group compiles as one function."""
        steps = [Move(self.geometric, self.only_flips)] if move and self.geometric else []
        for step in self.augmentations:
            if isinstance(step, ColourStep):
                if steps and isinstance(steps[-1], ColourSteps):
                    steps[-1].steps.append(step)
                else:
                    steps.append(ColourSteps([step]))
            elif not isinstance(step, Geometric):
                steps.append(Pixels(step))
        if any(not isinstance(step, Move) for step in steps):
            # Moving alone blends pixels with weights that sum to one, so stays in 0..255.
            steps.append(Clip())
        grouped = []
        for step in steps:
            joins = grouped and step.compiles and grouped[-1][0]
            if joins and step.needs_mean:
                joins = all(earlier.fuses_with_means for earlier in grouped[-1][1])
            if joins:
                grouped[-1][1].append(step)
            else:
                grouped.append((step.compiles, [step]))
        return grouped

    def _stages(self, grouped):
        return [stage(steps, compiles and self.compile) for compiles, steps in grouped]


# Compiled stages, shared by every Augmenter: XLA's compiled code is never freed, so a
# lasting process (the worker) that compiled anew for each job would grow by about 2 MB a
# job. A stage is known by what its steps are, not by their `n` (which only `draw` reads),
# so it is compiled once per set of augmentations and input shape.
COMPILED = {}


def stage(steps, compiles):
    """A function (images, drawn, inverse) -> images doing `steps` in order."""

    def run(images, drawn, inverse):
        for step in steps:
            images = step(images, drawn, inverse)
        return images

    if not compiles:
        return run
    key = tuple(step.key for step in steps)
    if key not in COMPILED:
        COMPILED[key] = tf.function(run, jit_compile=True)
    return COMPILED[key]


class Step:
    """One piece of an Augmenter's work, a function (images, drawn, inverse) -> images."""

    compiles = True  # whether XLA compiles it (with its neighbours, in one stage)
    needs_mean = False  # whether it reads its input's per-image mean
    # False when XLA handles a mean over this step's output badly in the same stage: a
    # step that needs the mean then starts a new stage.
    fuses_with_means = True


class Move(Step):
    """The one resampling of the geometric augmentations, in the cheapest form their maps
    allow (resampling.py): reversal for flips alone, one pass per moved axis when the maps
    keep x and y apart, else the general warp (without the perspective division unless a
    map has perspective)."""

    def __init__(self, geometric, only_flips):
        if only_flips:
            self.flip_axes = {step.name: step.axis for step in geometric}
            self.form = ("reverse",) + tuple(sorted(self.flip_axes.items()))
        elif all(step.separable_axes for step in geometric):
            axes = {axis for step in geometric for axis in step.separable_axes}
            self.form = ("separable", "y" in axes, "x" in axes)
            # XLA fuses a mean over the passes' output (contrast, cutout) so badly that it
            # costs three times the passes themselves (zoom then contrast: 1.7 against
            # 0.46 + 0.33 ms of CPU per 224x224 image); a stage boundary stops it.
            self.fuses_with_means = False
        else:
            self.form = ("warp", any(step.projective for step in geometric))
        self.key = ("move",) + self.form

    def __call__(self, images, drawn, inverse):
        kind = self.form[0]
        if kind == "reverse":
            return reverse(images, {axis: drawn[name]["flip"] for name, axis in self.flip_axes.items()})
        if kind == "separable":
            return separable(images, inverse, rows=self.form[1], columns=self.form[2])
        return warp(images, inverse, projective=self.form[1])


class ColourSteps(Step):
    """Consecutive colour steps as one `scale * x + offset`, composed in order (each step's
    mean is that of its input, the previous steps' output)."""

    def __init__(self, steps):
        self.steps = steps

    @property
    def needs_mean(self):
        return any(step.needs_mean for step in self.steps)

    @property
    def key(self):
        return ("colour",) + tuple(type(step).__name__ for step in self.steps)

    def __call__(self, images, drawn, inverse):
        mean = None
        if self.needs_mean:
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        scale, offset = 1.0, 0.0
        for step in self.steps:
            current = None if mean is None else scale * mean + offset
            a, b = step.affine(drawn[step.name], current)
            scale, offset = a * scale, a * offset + b
        return images * scale + offset


class Pixels(Step):
    """A pixel step."""

    def __init__(self, step):
        self.step = step
        self.compiles = step.compiles
        self.needs_mean = step.needs_mean
        self.key = ("pixels", type(step).__name__)

    def __call__(self, images, drawn, inverse):
        return self.step.apply(images, drawn[self.step.name])


class Clip(Step):
    key = ("clip",)

    def __call__(self, images, drawn, inverse):
        return tf.clip_by_value(images, 0.0, 255.0)
