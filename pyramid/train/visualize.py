"""`pyramid_train --visualize[=N]`: contact sheets of augmented training batches, each
image with its label, or (object detection) with its boxes and their labels as they were
moved by the augmentations."""

import math
import os

import numpy as np
from PIL import Image, ImageDraw

from pyramid.train.data import TrainingData

SHEET_DIRECTORY = "visualize"
MAX_TILES = 64
LABEL_HEIGHT = 14
MIN_TILE = 64  # small images are enlarged so that their labels fit
BOX_COLOUR = (255, 0, 255)


def write_contact_sheets(config, count, log=print):
    """Write `count` PNG sheets of augmented training batches; returns their paths."""
    data = TrainingData(config)
    directory = os.path.join(config.output_directory, SHEET_DIRECTORY)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for number, batch in enumerate(data.augmented_batches().take(count), start=1):
        batch = {name: value.numpy()[:MAX_TILES] for name, value in batch.items()}
        if "boxes" in batch:
            labels = [""] * len(batch["image"])
            boxes = [data.objective.describe_boxes(b, c) for b, c in zip(batch["boxes"], batch["count"])]
        else:
            labels = [data.objective.describe_target(target) for target in batch["target"]]
            boxes = None
        sheet = contact_sheet(batch["image"], labels, boxes)
        path = os.path.join(directory, "batch_%03d.png" % number)
        sheet.save(path)
        log(path)
        paths.append(path)
        if os.environ.get("DISPLAY"):
            sheet.show()
    return paths


def contact_sheet(images, labels, boxes=None):
    """A grid of the images, each with its label underneath and, when given, its boxes
    ((x1, y1, x2, y2, label) in the image's pixels) drawn on it."""
    count, height, width = images.shape[:3]
    zoom = max(1, math.ceil(MIN_TILE / min(height, width)))
    tile_w, tile_h = width * zoom, height * zoom + LABEL_HEIGHT
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (pixels, label) in enumerate(zip(images, labels)):
        left, top = (index % columns) * tile_w, (index // columns) * tile_h
        tile = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
        sheet.paste(tile.resize((width * zoom, height * zoom), Image.NEAREST), (left, top))
        draw.text((left + 2, top + height * zoom + 1), label, fill="black")
        for x1, y1, x2, y2, name in boxes[index] if boxes else ():
            corners = [left + x1 * zoom, top + y1 * zoom, left + x2 * zoom - 1, top + y2 * zoom - 1]
            draw.rectangle(corners, outline=BOX_COLOUR, width=2)
            draw.text((corners[0] + 3, corners[1] + 2), name, fill=BOX_COLOUR)
    return sheet
