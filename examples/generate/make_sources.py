"""Foregrounds and backgrounds for the pyramid_generate example, from installable data.

Foregrounds: the training split's colour emoji of examples/detection (face, animal, vehicle,
fruit), rendered from Noto Color Emoji with their alpha, one PNG each in
foregrounds/<class>/. Backgrounds: that split's photos (OpenCV's sample data and
scikit-learn's china.jpg), shrunk to at most 640 pixels a side, in backgrounds/. The emoji and
photos of examples/detection's test split are left out, so a detector trained on generated
data can be measured on that test split (examples/detection/test.json): objects and scenes it
never saw.

    apt-get install fonts-noto-color-emoji opencv-doc
    python examples/generate/make_sources.py [--output DIR]

(default: this directory; about two seconds).
"""

import argparse
import importlib.util
import os

from PIL import Image, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
DETECTION_SCRIPT = os.path.join(HERE, "..", "detection", "make_images.py")
MAX_PHOTO_SIDE = 640


def detection_example():
    """examples/detection/make_images.py, for its emoji, photos and rendering."""
    spec = importlib.util.spec_from_file_location("make_detection_images", DETECTION_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_sources(output, split="train"):
    example = detection_example()
    if not os.path.exists(example.EMOJI_FONT):
        raise SystemExit("%s is missing: apt-get install %s" % (example.EMOJI_FONT, example.APT_PACKAGES))
    font = ImageFont.truetype(example.EMOJI_FONT, 109)
    for label, splits in example.CLASSES.items():
        directory = os.path.join(output, "foregrounds", label)
        os.makedirs(directory, exist_ok=True)
        for number, character in enumerate(splits[split]):
            example.render_emoji(font, character).save(os.path.join(directory, "%02d.png" % number))
    directory = os.path.join(output, "backgrounds")
    os.makedirs(directory, exist_ok=True)
    for source in example.PHOTOS[split]:
        photo = example.load_photo(source)
        photo.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE), Image.LANCZOS)
        name = os.path.splitext(os.path.basename(source.replace("sklearn:", "")))[0]
        photo.save(os.path.join(directory, name + ".jpg"), quality=92)
    return os.path.join(output, "foregrounds"), directory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=HERE)
    args = parser.parse_args()
    foregrounds, backgrounds = make_sources(args.output)
    print("wrote %s and %s" % (foregrounds, backgrounds))


if __name__ == "__main__":
    main()
