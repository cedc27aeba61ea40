"""The batched augmentation engine on crops of real photos: ranges, exactness, rates, boxes.

Each test recovers an augmentation's random draw from what it did to the pixels (a bright
blob's position, a per-image offset, a per-channel ratio, ...) and checks it against the
semantics in the docstrings of `pyramid/augment/`'s modules and the README's "Augmentation
Descriptions". Geometric measurements use a blob or rectangles drawn over a darkened photo.
"""

import functools
import os

import numpy as np
import pytest
from sklearn.datasets import load_sample_images

from conftest import CHECKOUT
from pyramid.augment import registry as settings
from pyramid.augment.augmenter import Augmenter, Move
from pyramid.augment.base import Draws
from pyramid.augment.matrices import translation
from pyramid.augment.boxes import MIN_VISIBLE_BOX_FRACTION, transform_boxes
from pyramid.importers import tf

SEED = 42
GEOMETRIC = ("rotation", "shear", "zoom", "width_shift", "height_shift",
             "horizontal_flip", "vertical_flip", "deform")
PHOTOMETRIC = tuple(name for name in settings.NAMES if name not in GEOMETRIC)


# Helpers -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def sample_photos():
    return tuple(np.asarray(image) for image in load_sample_images().images)


def photo_crops(count, height, width, seed=0):
    """`count` float32 crops [count, height, width, 3] (0..255) of scikit-learn's two photos."""
    photos = sample_photos()
    rng = np.random.default_rng(seed)
    crops = np.empty((count, height, width, 3), np.float32)
    for index in range(count):
        photo = photos[index % len(photos)]
        top = rng.integers(0, photo.shape[0] - height + 1)
        left = rng.integers(0, photo.shape[1] - width + 1)
        crops[index] = photo[top : top + height, left : left + width]
    return crops


def squeeze(images, low, high):
    """Photos mapped linearly into low..high (so an augmentation cannot clip them)."""
    return (low + images * ((high - low) / 255.0)).astype(np.float32)


def augment(parameters, images, batch_index=0, boxes=None, seed=SEED):
    augmenter = Augmenter(parameters, seed=seed)
    images = tf.constant(images, tf.float32)
    index = tf.constant(batch_index, tf.int64)
    if boxes is None:
        out = augmenter(images, index)
        assert out.dtype == tf.float32 and out.shape == images.shape
        return out.numpy()
    out, moved, kept = augmenter(images, index, tf.constant(boxes, tf.float32))
    assert moved.shape == boxes.shape and kept.dtype == tf.bool and kept.shape == boxes.shape[:2]
    return out.numpy(), moved.numpy(), kept.numpy()


def changed(before, after, threshold=0.5):
    """[B] bool: images of which some value moved by more than `threshold`."""
    return np.abs(after - before).reshape(len(after), -1).max(axis=1) > threshold


def pixel_centres(height, width):
    """(xs, ys) [H, W] continuous coordinates of pixel centres (the image covers [0,W]x[0,H])."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    return xs, ys


def blob_images(centres, height, width, seed=0, sigma=2.0):
    """Darkened photo crops (0..30) with one bright Gaussian blob each, at `centres` [B, 2]."""
    images = squeeze(photo_crops(len(centres), height, width, seed), 0.0, 30.0)
    xs, ys = pixel_centres(height, width)
    for image, (cx, cy) in zip(images, centres):
        image += (220.0 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)))[..., None]
    return images.astype(np.float32)


def blob_centres(images):
    """[B, 2] (x, y) centroids of the bright blobs (grey level above the dark background)."""
    height, width = images.shape[1:3]
    xs, ys = pixel_centres(height, width)
    weights = np.maximum(images.mean(axis=-1).astype(np.float64) - 80.0, 0.0)
    total = weights.sum(axis=(1, 2))
    assert (total > 0).all(), "a blob left the image"
    return np.stack([(weights * xs).sum(axis=(1, 2)) / total, (weights * ys).sum(axis=(1, 2)) / total], axis=1)


def assert_spread(values, low, high, fraction=0.6):
    """`values` lie in [low, high] and reach into both outer parts of that range."""
    values = np.asarray(values)
    middle, half = (low + high) / 2, (high - low) / 2
    assert values.min() >= low and values.max() <= high, (values.min(), values.max(), low, high)
    assert values.min() < middle - fraction * half and values.max() > middle + fraction * half, (
        values.min(), values.max(), low, high)


# 1. Parameter 0 is the identity -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(settings.NUMERIC))
def test_zero_parameter_is_identity(name):
    images = photo_crops(8, 48, 64, seed=1)
    out = augment({name: 0.0}, images)
    np.testing.assert_allclose(out, images, atol=1e-3, rtol=0)


def test_empty_and_all_zero_augmenters_are_identity():
    images = photo_crops(8, 48, 64, seed=2)
    boxes = np.tile(np.array([[[4.0, 6.0, 30.0, 40.0], [0.0, 0.0, 64.0, 48.0]]], np.float32), (8, 1, 1))
    empty = Augmenter({}, seed=SEED)
    assert not empty
    assert Augmenter({"zoom": 0.1}, seed=SEED)
    np.testing.assert_array_equal(augment({}, images), images)
    out, moved, kept = augment({}, images, boxes=boxes)
    np.testing.assert_array_equal(out, images)
    np.testing.assert_array_equal(moved, boxes)
    assert kept.all()

    zeros = {name: 0.0 for name in settings.NUMERIC}
    out, moved, kept = augment(zeros, images, boxes=boxes)
    np.testing.assert_allclose(out, images, atol=1e-3, rtol=0)
    np.testing.assert_allclose(moved, boxes, atol=1e-3, rtol=0)
    assert kept.all()


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="zom"):
        Augmenter({"zom": 0.1}, seed=SEED)


# 2. Draws stay within their ranges ----------------------------------------------------------


def test_brightness_adds_one_offset_per_image_within_range():
    n = 0.3
    images = squeeze(photo_crops(64, 32, 48, seed=3), 102.0, 153.0)  # mid-grey: no clipping
    out = augment({"brightness": n}, images)
    difference = (out - images).reshape(64, -1).astype(np.float64)
    deltas = difference.mean(axis=1)
    # One value added to every pixel and channel of an image.
    assert np.abs(difference - deltas[:, None]).max() < 1e-3
    assert_spread(deltas, -255 * n - 1e-3, 255 * n + 1e-3)
    assert len(np.unique(np.round(deltas, 3))) == 64  # drawn per image


def test_brightness_output_is_clipped():
    images = photo_crops(32, 32, 32, seed=4)
    out = augment({"brightness": 1.0}, images)
    assert out.min() == 0.0 and out.max() == 255.0
    assert (out == 0.0).any(axis=(1, 2, 3)).sum() > 4 and (out == 255.0).any(axis=(1, 2, 3)).sum() > 4


def test_contrast_scales_deviations_from_the_channel_means():
    n = 0.5
    images = squeeze(photo_crops(64, 32, 48, seed=5), 77.0, 179.0)
    out = augment({"contrast": n}, images).astype(np.float64)
    means = images.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
    # The per-channel means stay, deviations scale by one factor 1 + c per image.
    np.testing.assert_allclose(out.mean(axis=(1, 2), keepdims=True), means, atol=2e-3)
    deviation_in, deviation_out = images - means, out - means
    factors = np.sqrt((deviation_out**2).sum(axis=(1, 2)) / (deviation_in**2).sum(axis=(1, 2)))  # [B, 3]
    assert np.abs(factors - factors[:, :1]).max() < 1e-4  # the same c for the three channels
    factors = factors[:, 0]
    np.testing.assert_allclose(deviation_out, deviation_in * factors[:, None, None, None], atol=2e-3)
    assert_spread(factors, 1 - n - 1e-4, 1 + n + 1e-4)


def test_rotation_turns_about_the_centre_within_range():
    n, height, width, radius = 30.0, 64, 64, 22.0
    rng = np.random.default_rng(6)
    angles = rng.uniform(0, 2 * np.pi, 64)
    centre = np.array([width / 2, height / 2])
    before = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    images = blob_images(before, height, width, seed=6)
    np.testing.assert_allclose(blob_centres(images), before, atol=0.15)

    after = blob_centres(augment({"rotation": n}, images))
    offset = after - centre
    np.testing.assert_allclose(np.hypot(*offset.T), radius, atol=0.3)  # about the centre
    turned = np.degrees(np.arctan2(offset[:, 1], offset[:, 0]) - angles)
    turned = (turned + 180) % 360 - 180
    assert_spread(turned, -n - 1.0, n + 1.0)


def test_shear_angle_within_range():
    n, height, width = 20.0, 64, 64
    rng = np.random.default_rng(7)
    # Blobs above or below the centre line, so that the shear moves them sideways.
    dy = rng.choice([-1, 1], 64) * rng.uniform(16, 22, 64)
    before = np.stack([width / 2 + rng.uniform(-6, 6, 64), height / 2 + dy], axis=1)
    images = blob_images(before, height, width, seed=7)
    after = blob_centres(augment({"shear": n}, images))
    np.testing.assert_allclose(after[:, 1], before[:, 1], atol=0.3)  # rows stay
    slopes = (after[:, 0] - blob_centres(images)[:, 0]) / dy
    assert_spread(np.degrees(np.arctan(slopes)), -n - 1.0, n + 1.0)


def test_zoom_scales_about_the_centre_within_range():
    n, height, width, radius = 0.3, 64, 64, 18.0
    rng = np.random.default_rng(8)
    angles = rng.uniform(0, 2 * np.pi, 64)
    centre = np.array([width / 2, height / 2])
    images = blob_images(centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), height, width, seed=8)
    before = blob_centres(images) - centre
    after = blob_centres(augment({"zoom": n}, images)) - centre
    scales = np.hypot(*after.T) / np.hypot(*before.T)
    turned = np.degrees(np.arctan2(after[:, 1], after[:, 0]) - np.arctan2(before[:, 1], before[:, 0]))
    assert np.abs((turned + 180) % 360 - 180).max() < 1.0  # straight out from the centre
    assert_spread(scales, 1 - n - 0.02, 1 + n + 0.02)


@pytest.mark.parametrize("name, axis", [("width_shift", 0), ("height_shift", 1)])
def test_shifts_within_range(name, axis):
    n, height, width = 0.25, 48, 80
    rng = np.random.default_rng(9)
    before = np.stack([width / 2 + rng.uniform(-4, 4, 64), height / 2 + rng.uniform(-4, 4, 64)], axis=1)
    images = blob_images(before, height, width, seed=9)
    moved = blob_centres(augment({name: n}, images)) - blob_centres(images)
    np.testing.assert_allclose(moved[:, 1 - axis], 0.0, atol=0.1)  # along its own axis only
    size = (width, height)[axis]
    assert_spread(moved[:, axis], -n * size - 0.2, n * size + 0.2)


def cutout_images(count, height, width, seed):
    """Photos plus a strong smooth gradient: no pixel is the image's mean colour by chance."""
    xs, ys = pixel_centres(height, width)
    xs, ys = xs / width, ys / height
    gradient = np.stack([xs * 100, ys * 100, (xs + ys) * 50], axis=-1)
    return (photo_crops(count, height, width, seed) * 0.55 + gradient).astype(np.float32)


@pytest.mark.parametrize("n, height, width", [(0.3, 48, 80), (0.25, 64, 64)])
def test_cutout_fills_an_exact_rectangle_with_the_mean_colour(n, height, width):
    images = cutout_images(64, height, width, seed=10)
    out = augment({"cutout": n}, images)
    means = images.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
    patch = (np.abs(out - means) < 1e-2).all(axis=-1)  # [B, H, W]
    fired = patch.any(axis=(1, 2))
    assert 16 < fired.sum() < 48
    box_h, box_w = round(n * height), round(n * width)
    for image, after, mask in zip(images, out, patch):
        if not mask.any():
            np.testing.assert_array_equal(after, image)
            continue
        assert mask.sum() == box_h * box_w
        rows, cols = np.nonzero(mask)
        assert rows.max() - rows.min() + 1 == box_h and cols.max() - cols.min() + 1 == box_w  # solid, inside
        np.testing.assert_array_equal(after[~mask], image[~mask])  # nothing else changes


def test_cutout_positions_vary():
    images = cutout_images(64, 48, 80, seed=11)
    out = augment({"cutout": 0.2}, images)
    patch = (np.abs(out - images.mean(axis=(1, 2), keepdims=True)) < 1e-2).all(axis=-1)
    corners = {(np.nonzero(mask)[0].min(), np.nonzero(mask)[1].min()) for mask in patch if mask.any()}
    assert len(corners) > 15


def test_tint_scales_chosen_channels_within_range():
    n, count = 0.4, 256
    images = squeeze(photo_crops(count, 24, 32, seed=12), 10.0, 178.0)
    out = augment({"tint": n}, images).astype(np.float64)
    factors = out.sum(axis=(1, 2)) / images.sum(axis=(1, 2), dtype=np.float64)  # [B, 3]
    np.testing.assert_allclose(out, images * factors[:, None, None, :], rtol=1e-5, atol=1e-3)
    tinted = np.abs(factors - 1) > 1e-6
    assert_spread(factors[tinted], 1 - n - 1e-5, 1 + n + 1e-5)
    # p 0.5 per image, then each channel with p 0.5: a quarter of the channels, 7/16 of images.
    assert abs(tinted.mean() - 0.25) < 0.07
    assert abs(tinted.any(axis=1).mean() - 7 / 16) < 0.12
    # Each chosen channel has its own factor.
    several = tinted.sum(axis=1) >= 2
    assert several.sum() >= 4
    for row, chosen in zip(factors[several], tinted[several]):
        assert np.ptp(row[chosen]) > 1e-4


def test_gaussian_noise_has_standard_deviation_n_times_value():
    n = 0.2
    images = squeeze(photo_crops(32, 48, 48, seed=13), 30.0, 183.0)
    out = augment({"gaussian_noise": n}, images)
    fired = changed(images, out, 1e-3)
    assert 6 < fired.sum() < 26
    np.testing.assert_array_equal(out[~fired], images[~fired])
    z = (out[fired].astype(np.float64) / images[fired] - 1) / n
    unclipped = (out[fired] > 0) & (out[fired] < 255)
    z = z[unclipped]
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    # Normal, not uniform or two-valued: about 68% within one standard deviation.
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.02


def test_gaussian_noise_draw_is_shared_by_the_three_channels():
    n = 0.2
    images = squeeze(photo_crops(16, 32, 32, seed=14), 30.0, 183.0)
    out = augment({"gaussian_noise": n}, images)
    fired = changed(images, out, 1e-3)
    assert fired.any()
    z = (out[fired].astype(np.float64) / images[fired] - 1) / n  # [k, H, W, 3]
    unclipped = ((out[fired] > 0) & (out[fired] < 255)).all(axis=-1)
    z = z[unclipped]
    np.testing.assert_allclose(z, np.repeat(z[:, :1], 3, axis=1), atol=1e-3)


def test_glare_only_lightens_an_elliptical_region_of_at_most_n():
    n, height, width = 0.4, 48, 64
    images = squeeze(photo_crops(64, height, width, seed=15), 0.0, 200.0)
    out = augment({"glare": n}, images).astype(np.float64)
    assert (out >= images - 1e-3).all()  # only lighter
    alpha = (out - images) / (255.0 - images)  # how far towards white, per pixel
    assert np.abs(alpha - alpha[..., :1]).max() < 1e-3  # the same for the three channels (white)
    alpha = alpha[..., 0]
    assert alpha.max() <= 1 + 1e-4
    fired = alpha.reshape(64, -1).max(axis=1) > 0.05
    assert 16 < fired.sum() < 48
    inside = (alpha > 0.5).reshape(64, -1).mean(axis=1)  # the ellipse (clipped to the image)
    assert inside.max() <= n + 0.02
    assert inside.max() > n / 2
    # It fades at its edge: fired images have pixels between clear and white.
    partial = ((alpha > 0.1) & (alpha < 0.9)).reshape(64, -1).sum(axis=1)
    assert (partial[inside > 0.02] > 0).all()


@pytest.mark.parametrize("n", [0.5, 0.9])
def test_blur_is_a_bilinear_shrink_and_enlarge(n):
    height, width = 32, 40
    images = photo_crops(24, height, width, seed=16)
    out = augment({"blur": n}, images)
    fired = changed(images, out, 1e-3)
    assert 4 < fired.sum() < 20
    np.testing.assert_array_equal(out[~fired], images[~fired])
    sizes = sorted({(max(round(x * height), 1), max(round(x * width), 1)) for x in np.linspace(1 - n, 1, 4001)})
    errors = []
    for size in sizes:
        small = tf.image.resize(images[fired], size, method="bilinear")
        again = tf.image.resize(small, [height, width], method="bilinear").numpy()
        errors.append(np.abs(again - out[fired]).reshape(len(again), -1).max(axis=1))
    best = np.min(errors, axis=0)  # per fired image, over the possible sizes
    assert best.max() < 1e-2, best
    # Really blurred: less detail than before.
    detail_in = np.abs(np.diff(images[fired], axis=2)).mean()
    detail_out = np.abs(np.diff(out[fired], axis=2)).mean()
    assert detail_out < detail_in


# 3. Flips and inversion are exact -----------------------------------------------------------


@pytest.mark.parametrize("name, flipped", [
    ("horizontal_flip", lambda images: images[:, :, ::-1]),
    ("vertical_flip", lambda images: images[:, ::-1]),
    ("color_invert", lambda images: 255.0 - images),
], ids=["horizontal_flip", "vertical_flip", "color_invert"])
def test_flips_and_inversion_are_exact(name, flipped):
    images = photo_crops(64, 48, 80, seed=20)
    out = augment({name: 1.0}, images)
    same = np.isclose(out, images, atol=1e-4, rtol=0).reshape(64, -1).all(axis=1)
    other = np.isclose(out, flipped(images), atol=1e-4, rtol=0).reshape(64, -1).all(axis=1)
    neither = np.nonzero(~(same | other))[0]
    assert not len(neither), "images neither the input nor its %s: %s" % (name, neither)
    assert 16 < other.sum() < 48


def tf_projective(images, inverse):
    """TensorFlow's own projective resampling (bilinear, nearest borders) through the
    output-to-input maps `inverse` in continuous coordinates: the reference for `warp`."""
    half = tf.fill([tf.shape(inverse)[0]], 0.5)
    index_map = translation(-half, -half) @ inverse @ translation(half, half)
    index_map = index_map / index_map[:, 2:3, 2:3]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.reshape(index_map, [-1, 9])[:, :8], output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST",
    ).numpy()


@pytest.mark.parametrize("names, form", [
    (("rotation",), "warp"), (("shear", "zoom"), "warp"), (("deform",), "warp"),
    (("rotation", "shear", "zoom", "deform", "horizontal_flip"), "warp"),
    (("width_shift", "height_shift"), "separable"), (("zoom",), "separable"), (("height_shift",), "separable"),
    (("width_shift", "vertical_flip"), "separable"), (("zoom", "horizontal_flip", "vertical_flip"), "separable"),
])
def test_the_compiled_resampling_equals_tensorflows_projective_transform(names, form):
    """The compiled resampling (`warp`, or a pass per axis for maps that keep x and y apart)
    gives TensorFlow's ImageProjectiveTransformV3 pixels."""
    images = tf.constant(photo_crops(16, 40, 56, seed=24))
    augmenter = Augmenter({name: settings.default_parameter(name) * 2 for name in names}, seed=5)
    assert Move(augmenter.geometric, augmenter.only_flips).form[0] == form
    draws = Draws(5, 2, 16)
    _, inverse = augmenter.geometry(augmenter.draw(draws, 40, 56), 40, 56)
    ours = augmenter(images, 2).numpy()
    np.testing.assert_allclose(ours, np.clip(tf_projective(images, inverse), 0, 255), atol=0.02)
    assert np.abs(ours - images.numpy()).max() > 10  # it did move the pixels


def test_compiled_and_uncompiled_steps_agree():
    images = tf.constant(photo_crops(16, 40, 48, seed=25))
    everything = {name: settings.default_parameter(name) for name in settings.NAMES if name != "gaussian_noise"}
    compiled = Augmenter(everything, seed=9)(images, 4).numpy()
    plain = Augmenter(everything, seed=9, compile=False)(images, 4).numpy()
    np.testing.assert_allclose(compiled, plain, atol=0.05)


def test_flips_alone_reverse_exactly_what_the_resampling_gives():
    """With only flips active the batch is reversed, not resampled: the same pixels, and the
    boxes still move with them."""
    images = tf.constant(photo_crops(16, 40, 56, seed=21))
    augmenter = Augmenter({"horizontal_flip": 1.0, "vertical_flip": 1.0}, seed=3)
    assert augmenter.only_flips and not Augmenter({"horizontal_flip": 1.0, "zoom": 0.1}, 3).only_flips
    draws = Draws(3, 7, 16)
    _, inverse = augmenter.geometry(augmenter.draw(draws, 40, 56), 40, 56)
    resampled = tf_projective(images, inverse)
    reversed_ = augmenter(images, 7).numpy()
    assert np.abs(reversed_ - resampled).max() < 1e-3
    boxes = tf.constant([[[4.0, 6.0, 20.0, 30.0]]] * 16)
    _, moved, kept = augmenter(images, 7, boxes=boxes)
    mirrored = np.isclose(reversed_, images.numpy()[:, :, ::-1], atol=1e-4).reshape(16, -1).all(axis=1)
    assert mirrored.any()  # seed 3, batch 7: some images only mirrored left to right
    np.testing.assert_allclose(moved.numpy()[mirrored, 0], [[56 - 20, 6, 56 - 4, 30]] * mirrored.sum(), atol=1e-3)
    assert kept.numpy().all()


# 4. Augmentations of probability 0.5 fire about half the time --------------------------------

# (name, n, expected fraction of images changed): tint changes an image only if at least one
# of its channels is picked too, 1/2 * (1 - 1/8).
HALF_THE_TIME = [
    ("horizontal_flip", 1.0, 0.5), ("vertical_flip", 1.0, 0.5), ("color_invert", 1.0, 0.5),
    ("cutout", 0.25, 0.5), ("gaussian_noise", 0.1, 0.5), ("blur", 0.5, 0.5), ("glare", 1.0, 0.5),
    ("deform", 0.3, 0.5), ("tint", 0.3, 7 / 16),
]


@pytest.mark.parametrize("name, n, expected", HALF_THE_TIME, ids=[case[0] for case in HALF_THE_TIME])
def test_half_the_time(name, n, expected):
    images = photo_crops(64, 32, 32, seed=21)
    augmenter = tf.function(Augmenter({name: n}, seed=SEED).__call__)
    fired = [changed(images, augmenter(tf.constant(images), tf.constant(index, tf.int64)).numpy(), 1.0)
             for index in range(4)]
    fraction = np.concatenate(fired).mean()
    assert abs(fraction - expected) <= 0.12, fraction
    # Fresh coins for every batch.
    assert not all((fired[0] == other).all() for other in fired[1:])


# 5. Reproducibility ------------------------------------------------------------------------

EVERYTHING = {name: settings.default_parameter(name) for name in settings.NAMES}


def test_same_seed_and_batch_index_reproduce_and_others_differ():
    images = photo_crops(16, 40, 48, seed=22)
    first = augment(EVERYTHING, images, batch_index=3)
    np.testing.assert_array_equal(augment(EVERYTHING, images, batch_index=3), first)
    other_batch = augment(EVERYTHING, images, batch_index=4)
    other_seed = augment(EVERYTHING, images, batch_index=3, seed=SEED + 1)
    assert changed(first, other_batch, 1.0).all() and changed(first, other_seed, 1.0).all()
    # Brightness draws themselves differ from batch to batch.
    grey = squeeze(images, 102.0, 153.0)
    deltas = [(augment({"brightness": 0.2}, grey, batch_index=index) - grey).mean(axis=(1, 2, 3)) for index in (0, 1)]
    assert (np.abs(deltas[0] - deltas[1]) > 1e-3).all()


def test_tf_data_parallelism_does_not_change_batches():
    images = tf.constant(photo_crops(8, 40, 48, seed=23))
    augmenter = Augmenter(EVERYTHING, seed=SEED)

    def batches(parallel):
        dataset = tf.data.Dataset.range(6).map(
            lambda index: augmenter(images, index), num_parallel_calls=parallel, deterministic=True)
        return np.stack([batch.numpy() for batch in dataset])

    serial = batches(1)
    np.testing.assert_array_equal(batches(4), serial)
    assert all(changed(serial[0], serial[index], 1.0).any() for index in range(1, 6))
    # The same as calling it eagerly.
    eager = np.stack([augmenter(images, tf.constant(index, tf.int64)).numpy() for index in range(6)])
    np.testing.assert_allclose(serial, eager, atol=1e-3, rtol=0)


# 6. Boxes ------------------------------------------------------------------------------------

BOX_SIZE = 128


def rectangle_images(count, seed):
    """Darkened photos with three bright rectangles each, rectangle k in channel k only.

    Each channel holds one rectangle, so its tight box is unambiguous even where rectangles
    overlap. Returns (images [B, S, S, 3], boxes [B, 3, 4]) with boxes in pixel-edge coordinates.
    """
    rng = np.random.default_rng(seed)
    images = squeeze(photo_crops(count, BOX_SIZE, BOX_SIZE, seed), 0.0, 30.0)
    boxes = np.empty((count, 3, 4), np.float32)
    for index in range(count):
        for channel in range(3):
            w, h = rng.integers(24, 45, size=2)
            x1, y1 = rng.integers(36, 93 - w), rng.integers(36, 93 - h)
            images[index, y1 : y1 + h, x1 : x1 + w, channel] = 230.0
            boxes[index, channel] = [x1, y1, x1 + w, y1 + h]
    return images, boxes


def tight_boxes(images, threshold=127.0):
    """[B, 3, 4] pixel-edge boxes around each channel's bright pixels."""
    result = np.zeros(images.shape[:1] + (3, 4), np.float32)
    for index, image in enumerate(images):
        for channel in range(3):
            rows, cols = np.nonzero(image[..., channel] > threshold)
            if len(rows):
                result[index, channel] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    return result


def iou(a, b):
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter)


def test_rectangle_images_have_their_boxes():
    images, boxes = rectangle_images(8, seed=30)
    np.testing.assert_array_equal(tight_boxes(images), boxes)


BOX_CASES = [
    {"rotation": 20.0}, {"shear": 15.0}, {"zoom": 0.3}, {"width_shift": 0.2}, {"height_shift": 0.2},
    {"horizontal_flip": 1.0}, {"vertical_flip": 1.0}, {"deform": 0.3},
    {"rotation": 10.0, "shear": 8.0, "zoom": 0.15, "width_shift": 0.1, "height_shift": 0.1,
     "horizontal_flip": 1.0, "vertical_flip": 1.0, "deform": 0.15},
]


BOX_IDS = [next(iter(case)) if len(case) == 1 else "all_geometric" for case in BOX_CASES]


@pytest.mark.parametrize("parameters", BOX_CASES, ids=BOX_IDS)
def test_boxes_follow_the_pixels(parameters):
    images, boxes = rectangle_images(48, seed=31)
    out, moved, kept = augment(parameters, images, batch_index=5, boxes=boxes)
    # The boxes do not change the images' draws.
    np.testing.assert_array_equal(out, augment(parameters, images, batch_index=5))
    assert kept.all()  # every rectangle stays well inside
    scores = iou(moved, tight_boxes(out))
    assert scores.min() >= 0.9, (scores.min(), np.unravel_index(scores.argmin(), scores.shape))
    assert (np.abs(moved - boxes).max(axis=(1, 2)) > 0.5).sum() >= 16  # they did move


def test_deform_moves_one_corner_inwards_by_at_most_n():
    n, height, width = 0.3, 48, 80
    # Tiny boxes at the four corners follow the corners.
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    tiny = np.array([[0, 0, 0.01, 0.01], [width - 0.01, 0, width, 0.01],
                     [width - 0.01, height - 0.01, width, height], [0, height - 0.01, 0.01, height]], np.float32)
    images = photo_crops(64, height, width, seed=32)
    _, moved, _ = augment({"deform": n}, images, boxes=np.tile(tiny[None], (64, 1, 1)))
    where = (moved[..., :2] + moved[..., 2:]) / 2  # [B, 4, 2]
    shift = np.abs(where - corners)  # inwards is away from the border, so this is the amount
    moving = shift.max(axis=2) > 0.05
    assert (moving.sum(axis=1) <= 1).all()  # one corner at most
    assert abs(moving.any(axis=1).mean() - 0.5) < 0.2
    amounts = shift[moving]
    assert (amounts[:, 0] <= n * width + 0.05).all() and (amounts[:, 1] <= n * height + 0.05).all()
    assert amounts[:, 0].max() > 0.6 * n * width and amounts[:, 1].max() > 0.6 * n * height
    assert len({int(c) for c in np.nonzero(moving)[1]}) >= 3  # different corners


def test_transform_boxes_drops_boxes_mostly_out_of_frame():
    height, width = 64, 128

    def shift(dx):
        return [[1, 0, dx], [0, 1, 0], [0, 0, 1]]

    matrices = tf.constant([shift(20.0), shift(25.0), shift(-150.0), shift(0.0)], tf.float32)
    boxes = tf.constant(np.tile([[[100, 10, 124, 30], [10, 10, 30, 30]]], (4, 1, 1)), tf.float32)
    moved, kept = transform_boxes(boxes, matrices, height, width)
    np.testing.assert_allclose(moved.numpy()[:, 0], [[120, 10, 128, 30], [125, 10, 128, 30], [0, 10, 0, 30],
                                                     [100, 10, 124, 30]], atol=1e-4)
    np.testing.assert_allclose(moved.numpy()[:, 1], [[30, 10, 50, 30], [35, 10, 55, 30], [0, 10, 0, 30],
                                                     [10, 10, 30, 30]], atol=1e-4)
    # 8/24 of the first box stays inside (kept), 3/24 (dropped), none (dropped); rows stay.
    assert kept.numpy().tolist() == [[True, True], [False, True], [False, False], [True, True]]
    assert 3 / 24 < MIN_VISIBLE_BOX_FRACTION <= 8 / 24


def test_large_width_shift_drops_boxes_pushed_out_of_frame():
    height, width, count = 64, 128, 64
    images = squeeze(photo_crops(count, height, width, seed=33), 0.0, 30.0)
    images[:, 20:44, 100:124, 0] = 230.0
    boxes = np.tile(np.array([[[100, 20, 124, 44]]], np.float32), (count, 1, 1))
    out, moved, kept = augment({"width_shift": 1.0}, images, boxes=boxes)
    visible = (out[..., 0] > 127).sum(axis=(1, 2)) / (24 * 24)  # a shift keeps areas
    kept = kept[:, 0]
    clear = np.abs(visible - MIN_VISIBLE_BOX_FRACTION) > 0.05
    np.testing.assert_array_equal(kept[clear], visible[clear] >= MIN_VISIBLE_BOX_FRACTION)
    assert 8 < (~kept).sum() < count - 8
    tight = tight_boxes(np.repeat(out[..., :1], 3, axis=-1))[:, 0]
    np.testing.assert_allclose(moved[kept, 0], tight[kept], atol=1.0)


def test_photometric_augmenter_leaves_boxes_alone():
    images, boxes = rectangle_images(16, seed=34)
    photometric = {name: settings.default_parameter(name) for name in PHOTOMETRIC}
    out, moved, kept = augment(photometric, images, boxes=boxes)
    np.testing.assert_array_equal(moved, boxes)
    assert kept.all()
    np.testing.assert_array_equal(out, augment(photometric, images))
    assert changed(images, out, 1.0).any()


# 7. Pure TensorFlow -------------------------------------------------------------------------


def test_package_has_no_python_callbacks_in_the_graph():
    banned = ("py_function", "numpy_function", "py_func", "from_generator")
    found = []
    for directory, _, names in os.walk(os.path.join(CHECKOUT, "pyramid")):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as stream:
                    text = stream.read()
                found.extend("%s: %s" % (os.path.relpath(path, CHECKOUT), word) for word in banned if word in text)
    assert not found, found


def test_compiled_stages_are_shared_whatever_n():
    """XLA's compiled code is never freed: a lasting worker must not compile anew for each
    job's n, only for each set of augmentations."""
    names = ("rotation", "brightness", "cutout", "gaussian_noise", "glare")
    first = Augmenter({name: settings.default_parameter(name) for name in names}, seed=1)
    second = Augmenter({name: settings.default_parameter(name) / 2 for name in names}, seed=1)
    assert first.stages and all(a is b for a, b in zip(first.stages, second.stages))
    images = tf.constant(photo_crops(8, 32, 32, seed=26))
    assert changed(first(images, 0).numpy(), second(images, 0).numpy(), 1.0).all()
