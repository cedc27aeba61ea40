"""`pyramid_generate --visualize[=N]`: contact sheets of generated examples, boxes drawn, each
image titled with its label (the last foreground's, or background_label); no data set is
written."""

import os

from pyramid.generate.output import composer, examples, training_point, unbatch
from pyramid.generate.settings import DETECTION
from pyramid.train.visualize import contact_sheet

SHEET_DIRECTORY = "visualize"
PER_SHEET = 16


def write_contact_sheets(generation, count, log=print):
    """Write `count` PNG sheets of the first examples; returns their paths."""
    directory = os.path.join(generation.output_directory, SHEET_DIRECTORY)
    os.makedirs(directory, exist_ok=True)
    maker = composer(generation, log)
    detection = generation.config.objective_type == DETECTION
    paths = []
    batches = examples(maker, count * PER_SHEET, batch_size=PER_SHEET)
    for number, batch in enumerate(batches, start=1):
        rows = unbatch(batch)
        points = [training_point(generation, index, row) for index, row in enumerate(rows)]
        labels = [row["directory"].decode("utf-8") for row in rows]
        boxes = [[tuple(box) for box in point["boxes"]] for point in points] if detection else None
        path = os.path.join(directory, "generated_%03d.png" % number)
        contact_sheet(batch["image"].astype("float32"), labels, boxes).save(path)
        log(path)
        paths.append(path)
    return paths
