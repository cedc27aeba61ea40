"""A per-image numpy/Pillow version of the sixteen augmentations: the benchmark's reference.

This is what a `tf.py_function` augmentation pipeline looks like (one image per call, Python
in the loop). It follows the semantics of `pyramid.augment` (see its modules' docstrings), with
the same parameters, ranges and order, but draws its random numbers from numpy, so its images
are not the same as the engine's:
- geometry: the product of the same 3x3 matrices, applied by one Pillow
  `Image.transform` (AFFINE, or PERSPECTIVE with deform), bilinear; borders take the
  nearest pixel because the image is first edge-padded by as much as the transform reaches
  outside it;
- blur: Pillow bilinear resize down to x times the size and back;
- brightness, contrast, tint, invert, gaussian noise (one N(0, 1) per pixel, shared by its
  channels), glare, cutout: numpy on float32, in that order, then clipping to 0..255.

It lives only in benchmarks/: pyramid itself must not use tf.py_function.
"""

import math

import numpy as np
from PIL import Image

GEOMETRIC = ("deform", "rotation", "shear", "zoom", "width_shift", "height_shift",
             "horizontal_flip", "vertical_flip")
GLARE_EDGE = 0.25


class ReferenceAugmenter:
    """Applies the active augmentations, {name: n}, to one float32 [H, W, 3] image."""

    def __init__(self, parameters, seed):
        self.parameters = dict(parameters)
        self.seed = int(seed)

    def __call__(self, image, index):
        """The augmented image; `index` (the element's number in the stream) seeds its draws."""
        rng = np.random.default_rng([self.seed, int(index)])
        p = self.parameters
        pil = Image.fromarray(np.asarray(image).astype(np.uint8))  # decoded pixels: exact
        forward = self.geometry(rng, pil.height, pil.width)
        if forward is not None:
            pil = transform(pil, np.linalg.inv(forward))
        if "blur" in p:
            pil = blur(pil, rng, p["blur"])

        pixels = np.asarray(pil, dtype=np.float32)
        if "brightness" in p:
            pixels = pixels + rng.uniform(-255 * p["brightness"], 255 * p["brightness"])
        if "contrast" in p:
            means = pixels.mean(axis=(0, 1))
            pixels = means + (pixels - means) * (1 + rng.uniform(-p["contrast"], p["contrast"]))
        if "tint" in p:
            pixels = tint(pixels, rng, p["tint"])
        if "color_invert" in p and coin(rng):
            pixels = 255 - pixels
        if "gaussian_noise" in p and coin(rng):
            noise = rng.standard_normal(pixels.shape[:2], dtype=np.float32)[..., None]
            pixels = pixels * (1 + p["gaussian_noise"] * noise)
        if "glare" in p:
            pixels = glare(pixels, rng, p["glare"])
        if "cutout" in p:
            pixels = cutout(pixels, rng, p["cutout"])
        return np.clip(pixels, 0, 255).astype(np.float32)

    def geometry(self, rng, height, width):
        """The forward (input to output) 3x3 matrix of the geometric augmentations, or None."""
        forward = None
        for name in GEOMETRIC:
            if name in self.parameters:
                step = MATRICES[name](rng, self.parameters[name], height, width)
                forward = step if forward is None else step @ forward
        return forward


def coin(rng):
    return rng.random() < 0.5


# Geometry: forward matrices in continuous pixel coordinates ((0, 0) the top-left corner).


def about_centre(matrix, height, width):
    to_centre = translation(-width / 2, -height / 2)
    return translation(width / 2, height / 2) @ matrix @ to_centre


def translation(dx, dy):
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64)


def rotation(rng, n, height, width):
    angle = math.radians(rng.uniform(-n, n))
    cos, sin = math.cos(angle), math.sin(angle)
    return about_centre(np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]]), height, width)


def shear(rng, n, height, width):
    slope = math.tan(math.radians(rng.uniform(-n, n)))
    return about_centre(np.array([[1, slope, 0], [0, 1, 0], [0, 0, 1]]), height, width)


def zoom(rng, n, height, width):
    scale = rng.uniform(1 - n, 1 + n)
    return about_centre(np.diag([scale, scale, 1.0]), height, width)


def width_shift(rng, n, height, width):
    return translation(rng.uniform(-n * width, n * width), 0)


def height_shift(rng, n, height, width):
    return translation(0, rng.uniform(-n * height, n * height))


def horizontal_flip(rng, n, height, width):
    return np.array([[-1, 0, width], [0, 1, 0], [0, 0, 1]], np.float64) if coin(rng) else np.eye(3)


def vertical_flip(rng, n, height, width):
    return np.array([[1, 0, 0], [0, -1, height], [0, 0, 1]], np.float64) if coin(rng) else np.eye(3)


def deform(rng, n, height, width):
    """p 0.5: the perspective map moving one random corner inwards by up to n * size."""
    if not coin(rng):
        return np.eye(3)
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    which = rng.integers(4)
    inwards = np.sign(np.array([width / 2, height / 2]) - corners[which])
    targets = corners.copy()
    targets[which] += rng.uniform(0, n, 2) * [width, height] * inwards
    return homography(corners, targets)


def homography(sources, targets):
    rows, values = [], []
    for (x, y), (u, v) in zip(sources, targets):
        rows.append([x, y, 1, 0, 0, 0, -x * u, -y * u])
        rows.append([0, 0, 0, x, y, 1, -x * v, -y * v])
        values += [u, v]
    return np.append(np.linalg.solve(rows, values), 1.0).reshape(3, 3)


MATRICES = {
    "deform": deform, "rotation": rotation, "shear": shear, "zoom": zoom,
    "width_shift": width_shift, "height_shift": height_shift,
    "horizontal_flip": horizontal_flip, "vertical_flip": vertical_flip,
}


def transform(image, inverse):
    """Resample `image` through the output-to-input map `inverse`; borders: nearest pixel.

    Pillow fills outside the image with a constant, so the image is first edge-padded by
    as far as the output's corners reach outside it (a projective map sends the output
    rectangle to the quadrilateral of its corners' images).
    """
    width, height = image.size
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], np.float64)
    reached = corners @ inverse.T
    reached = reached[:, :2] / reached[:, 2:]
    overshoot = max(0.0, -reached.min(), (reached[:, 0] - width).max(), (reached[:, 1] - height).max())
    margin = min(int(math.ceil(overshoot)) + 2, 2 * max(width, height))
    if margin > 2:
        padded = np.pad(np.asarray(image), [(margin, margin), (margin, margin), (0, 0)], mode="edge")
        image = Image.fromarray(padded)
        inverse = translation(margin, margin) @ inverse
    inverse = inverse / inverse[2, 2]
    if np.allclose(inverse[2, :2], 0):
        return image.transform((width, height), Image.AFFINE, tuple(inverse[:2].ravel()), Image.BILINEAR)
    return image.transform((width, height), Image.PERSPECTIVE, tuple(inverse.ravel()[:8]), Image.BILINEAR)


# Pixels.


def blur(image, rng, n):
    """p 0.5: shrink by x (1 - n to 1) and enlarge back, both bilinear."""
    if not coin(rng):
        return image
    factor = rng.uniform(1 - n, 1)
    width, height = image.size
    small = (max(1, round(factor * width)), max(1, round(factor * height)))
    return image.resize(small, Image.BILINEAR).resize((width, height), Image.BILINEAR)


def tint(pixels, rng, n):
    """p 0.5: each channel, with p 0.5, times a factor from 1 - n to 1 + n."""
    if not coin(rng):
        return pixels
    factors = np.where(rng.random(3) < 0.5, rng.uniform(1 - n, 1 + n, 3), 1.0)
    return pixels * factors.astype(np.float32)


def glare(pixels, rng, n):
    """p 0.5: whiten an ellipse with random foci covering a random fraction (0 to n)."""
    if not coin(rng):
        return pixels
    height, width = pixels.shape[:2]
    foci = rng.random((2, 2)) * [width, height]
    fraction = rng.uniform(0, n)
    if fraction <= 0:
        return pixels
    half_focal = np.linalg.norm(foci[0] - foci[1]) / 2
    area_term = fraction * height * width / math.pi
    a = math.sqrt((half_focal**2 + math.sqrt(half_focal**4 + 4 * area_term**2)) / 2)
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    reach = sum(np.sqrt((xs - fx) ** 2 + (ys - fy) ** 2) for fx, fy in foci)
    alpha = 1 / (1 + np.exp(-(2 * a - reach) / (GLARE_EDGE * a + 1e-3)))
    return pixels + alpha[..., None] * (255 - pixels)


def cutout(pixels, rng, n):
    """p 0.5: a [width * n, height * n] rectangle of the image's mean colour, inside it."""
    if not coin(rng):
        return pixels
    height, width = pixels.shape[:2]
    box_h, box_w = round(n * height), round(n * width)
    top = rng.integers(0, height - box_h + 1)
    left = rng.integers(0, width - box_w + 1)
    pixels = pixels.copy()
    pixels[top : top + box_h, left : left + box_w] = pixels.mean(axis=(0, 1))
    return pixels
