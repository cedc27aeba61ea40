"""`--bigmlize` (pyramid_train and pyramid_generate): `<image_root>/metadata.json`, the file
list BigML's importer reads.

A pretty-printed JSON list with one entry per training point: `{"file": ..., "label": ...}`
for classification and regression, `{"file": ..., "boxes": [{"xmin", "ymin", "xmax", "ymax",
"label"}, ...]}` for object detection. A box's corners are clipped to the image's pixels:
xmin = max(0, x1), ymin = max(0, y1), xmax = min(W - 1, x2), ymax = min(H - 1, y2), with W and
H read from the image file's header.
"""

import json
import os

from PIL import Image

METADATA_NAME = "metadata.json"


def metadata_entries(training_data, image_root):
    entries = []
    for point in training_data:
        entry = {"file": point["file"]}
        if "label" in point and point["label"] is not None:
            entry["label"] = point["label"]
        if point.get("boxes") is not None:
            with Image.open(os.path.join(image_root, point["file"])) as image:
                width, height = image.size
            entry["boxes"] = [
                {"xmin": max(0, x1), "ymin": max(0, y1), "xmax": min(width - 1, x2),
                 "ymax": min(height - 1, y2), "label": label}
                for x1, y1, x2, y2, label in point["boxes"]
            ]
        entries.append(entry)
    return entries


def write_metadata(training_data, image_root, log=print):
    """Write `<image_root>/metadata.json` (to a temporary name, then renamed); its path."""
    path = os.path.join(image_root, METADATA_NAME)
    temporary = "%s.partial-%d" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(metadata_entries(training_data, image_root), stream, indent=4)
        stream.write("\n")
    os.replace(temporary, path)
    log("Wrote BigML-style metadata to %s" % path)
    return path


def write_metadata_for_config(config_path, log=print):
    """From a config.json's training_data and image_root (relative to the file)."""
    with open(config_path, encoding="utf-8") as stream:
        config = json.load(stream)
    image_root = os.path.join(os.path.dirname(os.path.abspath(config_path)), config["image_root"])
    return write_metadata(config["training_data"], image_root, log)
