"""Object detection: YOLO heads whose decoded boxes sensenet reproduces exactly.

A point's boxes are given in its image's pixels. Images are rescaled with `pad` (sensenet's
rescaling of a detector's input: scaled to fit, padded at the bottom and right), so a box in
input pixels is the given box times S / max(height, width), S the square input's side; that
is the inverse of sensenet's mapping of predictions back to the image. Boxes travel through
the pipeline as a padded [B, M, 5] tensor (x1, y1, x2, y2, class index) with a count per
image, are moved by the augmentations, and become YOLO targets per batch.

Holdout checks compare COCO mAP@0.5:0.95 (pycocotools), over sensenet's own detections
(decoded and filtered as sensenet does) at a low score threshold; precision and recall are
at sensenet's default thresholds, which holdout_predictions.json uses too.
"""

import numpy as np

from pyramid.detection.anchors import anchors_from_config, choose_anchors
from pyramid.detection.decode import IOU_THRESHOLD, MAX_OBJECTS, SCORE_THRESHOLD, decode_raw, filter_detections
from pyramid.detection.evaluation import coco_metrics
from pyramid.detection.targets import yolo_targets
from pyramid.detection.training import YoloTrainer
from pyramid.errors import ConfigError
from pyramid.nets.model import yolo_branches
from pyramid.objectives.base import Objective

# Detections scored for mAP: COCO's usual 100 per image, nearly every score (at sensenet's
# default IoU threshold; SCORE_THRESHOLD and MAX_OBJECTS are its defaults too).
MAP_SCORE_THRESHOLD = 0.001
MAP_MAX_OBJECTS = 100
NO_BOX = -1  # the stratum of an image without boxes


class BoundingBox(Objective):
    name = "bounding_box"
    primary = "map_50_95"
    columns = (("map_50", "mAP@0.5"), ("map_50_95", "mAP@.5:.95"), ("precision", "Precision"),
               ("recall", "Recall"))
    output_activation = None  # no readout: the heads' outputs are decoded

    def __init__(self, boxes, classes, size, label_smoothing=0.0, strict=False, anchors=None, seed=42):
        self.boxes = [[list(box) for box in point] for point in boxes]  # image pixels
        self.classes = list(classes)
        self.size = int(size)
        self.label_smoothing = label_smoothing
        self.strict = bool(strict)
        self.given_anchors = anchors
        self.seed = seed
        self.sizes = None

    @classmethod
    def from_config(cls, config):
        return cls(config.labels, config.classes, config.input_image_shape[0],
                   config.label_smoothing_factor, config.strict_boxes, config.bounding_box_anchors,
                   config.seed)

    # Data -------------------------------------------------------------------------------

    def strata(self):
        """The class of each image's largest box (NO_BOX without boxes), so that the holdout
        has images of every class and images without objects."""
        strata = []
        for point in self.boxes:
            if not point:
                strata.append(NO_BOX)
                continue
            largest = max(point, key=lambda box: (box[2] - box[0]) * (box[3] - box[1]))
            strata.append(self.classes.index(largest[4]))
        return np.array(strata)

    def stored_label(self, row):
        return self.boxes[row]

    def fit_images(self, sizes, paths):
        """Boxes in input pixels; a box whose centre is outside its image is dropped, or with
        `strict_boxes` refused before training."""
        self.sizes = np.asarray(sizes)
        self.dropped = 0
        rows = []
        for index, (point, (height, width)) in enumerate(zip(self.boxes, self.sizes)):
            scale = self.size / max(height, width)
            kept = []
            for number, (x1, y1, x2, y2, label) in enumerate(point):
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                if not (0 <= cx < width and 0 <= cy < height):
                    if self.strict:
                        raise ConfigError(
                            "training_data[%d].boxes[%d]: %s has its centre outside the %dx%d image "
                            "%s; strict_boxes refuses it (without it, it is left out)"
                            % (index, number, [x1, y1, x2, y2, label], width, height, paths[index])
                        )
                    self.dropped += 1
                    continue
                kept.append([x1 * scale, y1 * scale, x2 * scale, y2 * scale, self.classes.index(label)])
            rows.append(kept)
        slots = max(1, max(len(kept) for kept in rows))
        self.input_boxes = np.zeros((len(rows), slots, 5), np.float32)
        self.counts = np.array([len(kept) for kept in rows], np.int32)
        for index, kept in enumerate(rows):
            if kept:
                self.input_boxes[index, : len(kept)] = kept

    def notes(self):
        if not self.dropped:
            return []
        return ["%d boxes left out (their centre is outside their image)" % self.dropped]

    def row_values(self):
        return {"boxes": self.input_boxes, "count": self.counts}

    def keras_batches(self, document):
        branches = yolo_branches(document)

        def to_keras(batch):
            labels, true_boxes, valid = yolo_targets(
                batch["boxes"], batch["count"], branches, self.size, len(self.classes), self.label_smoothing
            )
            return batch["image"], {"labels": labels, "true_boxes": true_boxes, "valid": valid}, batch["weight"]

        return to_keras

    def describe_boxes(self, boxes, count):
        """(x1, y1, x2, y2, label) of a batch row's boxes in input pixels (contact sheets)."""
        return [(*box[:4], self.classes[int(box[4])]) for box in boxes[:count]]

    # Network ----------------------------------------------------------------------------

    def anchors(self, branches):
        """`bounding_box_anchors`, or k-means over the training boxes' sizes at input scale."""
        if self.given_anchors is not None:
            return anchors_from_config(self.given_anchors, branches)
        boxes = self.input_boxes[np.arange(self.input_boxes.shape[1])[None, :] < self.counts[:, None]]
        sizes = boxes[:, 2:4] - boxes[:, 0:2]
        return choose_anchors(sizes, branches, self.seed, self.size)

    def loss(self, name):
        return None  # YOLO's, in the training model's own train step

    def training_model(self, built):
        return YoloTrainer(built.keras_model, built.branches, self.size, len(self.classes))

    # Evaluation -------------------------------------------------------------------------

    def truth(self, rows):
        """Each row's boxes in its image's pixels, with class indices."""
        return [[(*box[:4], self.classes.index(box[4])) for box in self.boxes[row]] for row in rows]

    def predictions(self, outputs, rows, document):
        """Each row's detections (x1, y1, x2, y2, score, class) in its image's pixels, as
        sensenet decodes and filters them, down to a score of MAP_SCORE_THRESHOLD."""
        branches = yolo_branches(document)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        boxes, scores, classes = decode_raw(outputs, branches, self.size, len(self.classes))
        boxes, scores, classes, counts = filter_detections(
            boxes, scores, classes, self.size, self.sizes[rows], MAP_SCORE_THRESHOLD, IOU_THRESHOLD,
            MAP_MAX_OBJECTS,
        )
        boxes, scores, classes, counts = boxes.numpy(), scores.numpy(), classes.numpy(), counts.numpy()
        return [
            [(*boxes[i, k].tolist(), float(scores[i, k]), int(classes[i, k])) for k in range(counts[i])]
            for i in range(len(rows))
        ]

    def metrics(self, predictions, truth, weights):
        """COCO metrics; every image counts once (instance weights do not weigh them)."""
        return coco_metrics(truth, predictions, len(self.classes))

    def prediction_record(self, prediction):
        """The detections sensenet returns at its defaults (score > 0.5, at most 32)."""
        kept = [found for found in prediction if found[4] > SCORE_THRESHOLD][:MAX_OBJECTS]
        return [{"box": [int(v) for v in found[:4]], "label": self.classes[found[5]], "score": found[4]}
                for found in kept]
