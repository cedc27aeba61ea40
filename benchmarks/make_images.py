"""Benchmark images without internet: JPEG crops of real photos available offline.

Writes N JPEGs of realistic size (both sides 300-500 px; landscape, portrait and square),
quality 90, cut at random (fixed seed) from the photos found offline:
- scikit-learn's two sample photos (`load_sample_images`, 427x640), always there;
- `/usr/share/doc/opencv-doc/examples/data/*.jpg` and
  `/usr/share/backgrounds/mate/nature/*.jpg`, when those packages are installed.
Each crop covers 40-100% of its photo's largest window of that aspect ratio, is resized with
Lanczos and mirrored at random. Alongside go `training_data.json`, a `training_data` list
(`[{"file": ..., "label": ...}, ...]`, files relative to DIR) whose label is the source photo
and the crop's orientation, so there are a few classes.

    python benchmarks/make_images.py --output /tmp/bench_images --count 256
"""

import argparse
import glob
import json
import os

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

OPTIONAL_PHOTOS = (
    "/usr/share/doc/opencv-doc/examples/data/*.jpg",
    "/usr/share/backgrounds/mate/nature/*.jpg",
)
# width / height of the crops, and the orientation each counts as (part of the label).
ASPECTS = {0.75: "portrait", 2 / 3: "portrait", 1.0: "square", 4 / 3: "landscape", 1.5: "landscape"}
SIDE_RANGE = (300, 500)  # pixels, for both sides of every image
MIN_PHOTO_SIDE = 200
QUALITY = 90
SEED = 20240601
LIST_NAME = "training_data.json"


def source_photos():
    """[(name, RGB PIL image)] of every real photo available offline."""
    samples = load_sample_images()
    photos = [
        (os.path.splitext(os.path.basename(path))[0], Image.fromarray(pixels))
        for path, pixels in zip(samples.filenames, samples.images)
    ]
    for pattern in OPTIONAL_PHOTOS:
        for path in sorted(glob.glob(pattern)):
            with Image.open(path) as image:
                if min(image.size) >= MIN_PHOTO_SIDE:
                    photos.append((os.path.splitext(os.path.basename(path))[0], image.convert("RGB")))
    return photos


def output_size(rng, aspect):
    """(width, height) with aspect ratio `aspect` and both sides in SIDE_RANGE."""
    low, high = SIDE_RANGE
    long_side = rng.integers(round(low * max(aspect, 1 / aspect)), high + 1)
    if aspect >= 1:
        return int(long_side), int(round(long_side / aspect))
    return int(round(long_side * aspect)), int(long_side)


def random_crop(rng, photo, aspect):
    """A window of `photo` with aspect ratio `aspect`, 40-100% of the largest one that fits."""
    width, height = photo.size
    full_w = min(width, height * aspect)
    scale = rng.uniform(0.4, 1.0)
    crop_w, crop_h = full_w * scale, full_w * scale / aspect
    left = rng.uniform(0, width - crop_w)
    top = rng.uniform(0, height - crop_h)
    return left, top, left + crop_w, top + crop_h


def make_image(rng, photo, aspect):
    size = output_size(rng, aspect)
    image = photo.resize(size, Image.LANCZOS, box=random_crop(rng, photo, aspect))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return image


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="directory for the images and %s" % LIST_NAME)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    photos = source_photos()
    rng = np.random.default_rng(args.seed)
    aspects = list(ASPECTS)
    os.makedirs(os.path.join(args.output, "images"), exist_ok=True)
    training_data = []
    for index in range(args.count):
        name, photo = photos[index % len(photos)]
        aspect = aspects[rng.integers(len(aspects))]
        file = "images/%05d.jpg" % index
        make_image(rng, photo, aspect).save(os.path.join(args.output, file), quality=QUALITY)
        training_data.append({"file": file, "label": "%s-%s" % (name, ASPECTS[aspect])})

    list_path = os.path.join(args.output, LIST_NAME)
    with open(list_path, "w") as stream:
        json.dump(training_data, stream, indent=1)
        stream.write("\n")
    labels = sorted({point["label"] for point in training_data})
    print("%d images from %d photos, %d labels: %s" % (args.count, len(photos), len(labels), list_path))


if __name__ == "__main__":
    main()
