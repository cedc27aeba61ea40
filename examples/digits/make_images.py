"""How examples/digits was made: scikit-learn's digits scans as 32x32 RGB PNGs.

scikit-learn ships 1,797 8x8 greyscale scans of handwritten digits (UCI optdigits, values
0..16). Each is scaled to 0..255, enlarged to 32x32 with bicubic interpolation and saved as
an RGB PNG under images/<digit>/; config.json lists them with their digit as label.

    python examples/digits/make_images.py
"""

import json
import os

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 32


def main():
    digits = load_digits()
    training_data = []
    for index, (scan, digit) in enumerate(zip(digits.images, digits.target)):
        pixels = np.round(scan * (255.0 / 16.0)).astype(np.uint8)
        image = Image.fromarray(pixels, "L").resize((SIZE, SIZE), Image.BICUBIC).convert("RGB")
        name = "%d/%04d.png" % (digit, index)
        os.makedirs(os.path.join(HERE, "images", str(digit)), exist_ok=True)
        image.save(os.path.join(HERE, "images", name), optimize=True)
        training_data.append({"file": name, "label": str(digit)})

    config_path = os.path.join(HERE, "config.json")
    with open(config_path) as stream:
        config = json.load(stream)
    config["training_data"] = training_data
    with open(config_path, "w") as stream:
        json.dump(config, stream, indent=1)
        stream.write("\n")


if __name__ == "__main__":
    main()
