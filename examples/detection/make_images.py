"""How examples/detection was made: colour emoji pasted onto crops of real photos.

Four classes of Noto Color Emoji (face, animal, vehicle, fruit; several different emoji per
class) are pasted with their alpha channel onto random crops of photos that Debian packages and
scikit-learn ship. Each image gets 0 to 3 objects, each object a random emoji of a random class,
randomly mirrored, turned by up to 15 degrees and scaled so that its longer side is 15% to 50% of
the image's shorter side, at a random place (up to a fifth of it may hang over the border).
Most images are 160x160; about one in six has another size or shape (200x150, 150x200, 240x160,
128x128 or 320x240), so that rescaling with padding matters.

A box is [x1, y1, x2, y2, label] in the image's own pixels, with (0, 0) the top-left corner of
the top-left pixel and x2, y2 one past the last column and row: the tightest box around the
object's pixels that are still visible (alpha > 0 after resizing, clipped to the image, not under
a later object's opaque pixels). An object that loses half of its pixels to later objects or to
the border is dropped from the boxes (placements that overlap an earlier box by more than a
quarter are redrawn, so this is rare).

The two splits share neither emoji nor photos: "test" shows emoji and photos that "train" never
does, so a held-out mAP measures generalisation. Everything is drawn from one seed.

    apt-get install fonts-noto-color-emoji opencv-doc
    python examples/detection/make_images.py

writes images/train/*.jpg, images/test/*.jpg, config.json (the train split as training_data)
and test.json (the test split, files relative to images/ as in config.json). Only Pillow, numpy
and scikit-learn (for its two sample photos) are needed, and only to re-make the images.
"""

import argparse
import glob
import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
OPENCV = "/usr/share/doc/opencv-doc/examples/data/"
APT_PACKAGES = "fonts-noto-color-emoji opencv-doc"

# Emoji per class and split: no emoji is in both splits.
CLASSES = {
    "face": {
        "train": "😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😋😛😝😜🤪🤨🧐🤓😎🤩🥳😏😒😞😔😟😕🙁😣😖😫"
        "😩🥺😢😭😤😠🤯😳😱😨",
        "test": "😰😥😓🤗🤔🤭🤫🤥😶😐😑😬🙄😯😦😧😮😲🥱😴🤤😪😵🤐🥴🤧😷🤒🤕🤠",
    },
    "animal": {
        "train": "🐘🦒🦓🐪🦘🦏🐄🐂🐎🐖🐏🐐🦌🐕🐈🐅🦍🐒🐇🐿🦙🦬🐀🦥🦨",
        "test": "🐫🦛🐃🐑🐆🦔🐩🦮🐁🦦🦡",
    },
    "vehicle": {
        "train": "🚗🚙🚌🏎🚓🚒🛻🚚🚜🛵🚘🚍🛺",
        "test": "🚕🚎🚑🚐🚛🏍🚖🚔",
    },
    "fruit": {
        "train": "🍎🍋🍌🍉🍇🍓🍑🍐🥝🥭🥥🍅",
        "test": "🍊🍒🍍🍏🫐🍈",
    },
}

# Background photos per split: no photo (nor a near copy of one, such as aloeL/aloeR or
# leuvenA/leuvenB) is in both splits.
PHOTOS = {
    "train": [
        OPENCV + "aloeR.jpg", OPENCV + "leuvenB.jpg", OPENCV + "basketball2.png",
        OPENCV + "left02.jpg", OPENCV + "ela_modified.jpg", OPENCV + "blox.jpg",
        OPENCV + "cards.png", OPENCV + "pic1.png", OPENCV + "messi5.jpg",
        OPENCV + "aero1.jpg", OPENCV + "aero3.jpg", OPENCV + "aloeL.jpg", OPENCV + "board.jpg",
        OPENCV + "box_in_scene.png", OPENCV + "building.jpg", OPENCV + "ela_original.jpg",
        OPENCV + "leuvenA.jpg", OPENCV + "smarties.png", OPENCV + "starry_night.jpg",
        OPENCV + "basketball1.png", OPENCV + "left01.jpg", OPENCV + "sudoku.png",
        "sklearn:china.jpg",
    ],
    "test": [
        OPENCV + "graf3.png", OPENCV + "rubberwhale2.png", OPENCV + "pca_test1.jpg",
        OPENCV + "home.jpg", OPENCV + "rubberwhale1.png", OPENCV + "stuff.jpg",
        OPENCV + "graf1.png", "sklearn:flower.jpg",
    ],
}

# (width, height): mostly square, a few others so that pad rescaling matters.
SIZES = [(160, 160)] * 25 + [(200, 150), (150, 200), (240, 160), (128, 128), (320, 240)]
OBJECT_COUNTS = [0, 1, 2, 3]
OBJECT_COUNT_WEIGHTS = [0.1, 0.35, 0.3, 0.25]
MIN_SCALE, MAX_SCALE = 0.15, 0.5  # longer side of an object / shorter side of the image
MAX_TURN = 15  # degrees
MAX_OVERHANG = 0.2  # fraction of an object's width or height that may be outside the image
MAX_OVERLAP = 0.25  # of the smaller box, with any earlier box
MIN_VISIBLE = 0.5  # fraction of an object's pixels that must stay visible to keep its box
ALPHA_FLOOR = 8  # alpha below this after resampling is set to 0 (invisible)
OPAQUE = 128  # a later object's pixel with at least this alpha hides what is under it
JPEG_QUALITY = 90

CONFIG = {
    "image_root": "images",
    "output_directory": "output",
    "input_image_shape": [160, 160, 3],
    "image_network_candidates": [["tinyyolov4", "randomly_initialize"]],
    "max_total_time": 600,
    "batch_size": 16,
    "learning_rate": 0.001,
    "seed": 42,
    "rescale_type": "pad",
    "image_augmentations": ["horizontal_flip", "zoom", "brightness", "contrast"],
}


def render_emoji(font, character):
    """The emoji as an RGBA image cropped to its visible pixels."""
    canvas = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), character, font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise SystemExit("%s has no glyph for %r" % (EMOJI_FONT, character))
    return canvas.crop(box)


def load_photo(source):
    if source.startswith("sklearn:"):
        import sklearn.datasets

        path = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", source[8:])
    else:
        path = source
    if not os.path.exists(path):
        raise SystemExit("%s is missing: apt-get install %s" % (path, APT_PACKAGES))
    photo = Image.open(path).convert("RGB")
    photo.thumbnail((1280, 1280), Image.LANCZOS)  # big wallpapers: faster, still sharp
    return photo


def background(rng, photo, width, height):
    """A random crop of `photo` with the aspect of width x height, resized to it."""
    scale = min(photo.width / width, photo.height / height)
    crop_scale = scale * rng.uniform(0.3, 1.0)
    crop_w, crop_h = width * crop_scale, height * crop_scale
    left = rng.uniform(0, photo.width - crop_w)
    top = rng.uniform(0, photo.height - crop_h)
    crop = (left, top, left + crop_w, top + crop_h)
    image = photo.resize((width, height), Image.LANCZOS, box=crop)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return image


def transform_object(rng, emoji, longer_side):
    """The emoji mirrored, turned and resized (premultiplied, so edges stay clean)."""
    image = emoji.convert("RGBa")
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    image = image.rotate(rng.uniform(-MAX_TURN, MAX_TURN), Image.BICUBIC, expand=True)
    image = image.crop(image.getchannel(3).getbbox())
    factor = longer_side / max(image.size)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    image = image.resize(size, Image.LANCZOS).convert("RGBA")
    pixels = np.array(image)
    pixels[pixels[..., 3] < ALPHA_FLOOR] = 0
    image = Image.fromarray(pixels, "RGBA")
    return image.crop(image.getchannel("A").getbbox())


def overlap(a, b):
    """Intersection of boxes a and b over the area of the smaller one."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def compose(rng, photo, emojis):
    """One image and its boxes."""
    width, height = SIZES[rng.integers(len(SIZES))]
    image = background(rng, photo, width, height).convert("RGBA")
    count = rng.choice(OBJECT_COUNTS, p=OBJECT_COUNT_WEIGHTS)
    placed = []  # (label, alpha over the whole image, its visible pixel count, placement box)
    for _ in range(count):
        label = sorted(emojis)[rng.integers(len(emojis))]
        choices = emojis[label]
        emoji = choices[rng.integers(len(choices))]
        side = rng.uniform(MIN_SCALE, MAX_SCALE) * min(width, height)
        thing = transform_object(rng, emoji, side)
        over_x, over_y = int(MAX_OVERHANG * thing.width), int(MAX_OVERHANG * thing.height)
        for _ in range(50):
            x = int(rng.integers(-over_x, width - thing.width + over_x + 1))
            y = int(rng.integers(-over_y, height - thing.height + over_y + 1))
            box = (x, y, x + thing.width, y + thing.height)
            if all(overlap(box, other[3]) <= MAX_OVERLAP for other in placed):
                break
        else:
            continue  # no room for it: one object fewer
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        layer.paste(thing, (x, y))
        image = Image.alpha_composite(image, layer)
        alpha = np.asarray(layer.getchannel("A"))
        whole = int((np.asarray(thing.getchannel("A")) > 0).sum())
        placed.append((label, alpha, whole, box))

    boxes = []
    covered = np.zeros((height, width), bool)
    for label, alpha, whole, _ in reversed(placed):
        visible = (alpha > 0) & ~covered
        covered |= alpha >= OPAQUE
        if visible.sum() < MIN_VISIBLE * whole:
            continue
        columns = np.flatnonzero(visible.any(axis=0))
        rows = np.flatnonzero(visible.any(axis=1))
        x1, y1, x2, y2 = columns[0], rows[0], columns[-1] + 1, rows[-1] + 1
        boxes.append([int(x1), int(y1), int(x2), int(y2), label])
    boxes.reverse()
    return image.convert("RGB"), boxes


def make_split(name, count, seed, font):
    rng = np.random.default_rng(seed)
    emojis = {
        label: [render_emoji(font, character) for character in split[name]]
        for label, split in CLASSES.items()
    }
    photos = [load_photo(source) for source in PHOTOS[name]]
    directory = os.path.join(HERE, "images", name)
    os.makedirs(directory, exist_ok=True)
    for old in glob.glob(os.path.join(directory, "*.jpg")):
        os.remove(old)
    points = []
    for index in range(count):
        image, boxes = compose(rng, photos[index % len(photos)], emojis)
        file = "%s/%08d.jpg" % (name, index)
        image.save(os.path.join(HERE, "images", file), quality=JPEG_QUALITY, optimize=True)
        points.append({"file": file, "boxes": boxes})
    return points


def dump(value, path):
    with open(path, "w") as stream:
        json.dump(value, stream, indent=1, ensure_ascii=False)
        stream.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=400, help="number of training images")
    parser.add_argument("--test", type=int, default=100, help="number of test images")
    args = parser.parse_args()
    if not os.path.exists(EMOJI_FONT):
        raise SystemExit("%s is missing: apt-get install %s" % (EMOJI_FONT, APT_PACKAGES))
    font = ImageFont.truetype(EMOJI_FONT, 109)  # the only size this bitmap font has

    train = make_split("train", args.train, args.seed, font)
    test = make_split("test", args.test, args.seed + 1, font)
    dump(dict(CONFIG, training_data=train), os.path.join(HERE, "config.json"))
    dump(test, os.path.join(HERE, "test.json"))
    for name, points in (("train", train), ("test", test)):
        labels = [box[4] for point in points for box in point["boxes"]]
        print("%s: %d images, %d without objects, %d boxes: %s" % (
            name, len(points), sum(not point["boxes"] for point in points), len(labels),
            ", ".join("%s %d" % (label, labels.count(label)) for label in sorted(CLASSES))))


if __name__ == "__main__":
    main()
