"""COCO detection metrics for a holdout, with pycocotools (the reference COCO evaluator).

`coco_metrics(truth, detections, n_classes)`:
- truth: per image, a list of (x1, y1, x2, y2, class);
- detections: per image, a list of (x1, y1, x2, y2, score, class);
both in the same pixel coordinates, classes as indices in [0, n_classes).

Returns floats {"map_50", "map_50_95", "precision", "recall"}:
- map_50, map_50_95: COCO's AP at IoU 0.5 and averaged over IoU 0.5:0.05:0.95, all areas,
  at most 100 detections per image, averaged over the classes that have at least one true
  box (COCO leaves classes absent from the holdout out of the mean). Without any true box,
  or without any detection, they are 0.0 (never NaN, never -1).
- precision, recall: at score > 0.5 (sensenet's default threshold, with its strict
  comparison) and IoU >= 0.5. In each image, the detections of a class that pass the score
  threshold are taken by descending score, and each is a true positive when it overlaps a
  not yet matched true box of its class with IoU >= 0.5 (the best such box is then
  matched). Counts are summed over all images and classes:
  precision = true positives / detections kept, recall = true positives / true boxes,
  each 0.0 when its denominator is 0.

pycocotools prints progress on stdout; its calls run with stdout redirected, so the
worker's stdout (a line protocol) stays clean.
"""

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

SCORE_THRESHOLD = 0.5
IOU_THRESHOLD = 0.5


def _xywh(x1, y1, x2, y2):
    w, h = max(float(x2) - float(x1), 0.0), max(float(y2) - float(y1), 0.0)
    return [float(x1), float(y1), w, h]


def coco_metrics(truth, detections, n_classes):
    """COCO mAP@0.5, mAP@0.5:0.95, and precision/recall at score 0.5, IoU 0.5 (see module doc)."""
    if len(truth) != len(detections):
        raise ValueError(
            "coco_metrics: %d images of truth but %d of detections" % (len(truth), len(detections))
        )
    map_50, map_50_95 = _coco_map(truth, detections, n_classes)
    precision, recall = precision_recall(truth, detections)
    return {"map_50": map_50, "map_50_95": map_50_95, "precision": precision, "recall": recall}


def _coco_map(truth, detections, n_classes):
    images = [{"id": i + 1} for i in range(len(truth))]
    # pycocotools takes id 0 for "unmatched", so annotation (and category) ids start at 1.
    categories = [{"id": c + 1, "name": str(c)} for c in range(int(n_classes))]
    annotations = []
    for image, boxes in enumerate(truth):
        for x1, y1, x2, y2, klass in boxes:
            bbox = _xywh(x1, y1, x2, y2)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image + 1,
                    "category_id": int(klass) + 1,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
    results = [
        {
            "image_id": image + 1,
            "category_id": int(klass) + 1,
            "bbox": _xywh(x1, y1, x2, y2),
            "score": float(score),
        }
        for image, found in enumerate(detections)
        for x1, y1, x2, y2, score, klass in found
    ]
    if not annotations or not results:
        return 0.0, 0.0  # nothing to find, or nothing found (loadRes cannot take an empty list)
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = {"images": images, "annotations": annotations, "categories": categories}
        ground.createIndex()
        evaluator = COCOeval(ground, ground.loadRes(results), iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # stats[0]: AP@[.5:.95], stats[1]: AP@.5 (all areas, 100 detections); -1 means undefined.
    return max(float(evaluator.stats[1]), 0.0), max(float(evaluator.stats[0]), 0.0)


def _pair_iou(box, others):
    """IoU of one (x1, y1, x2, y2) box with an [n, 4] array of them."""
    inter_w = np.maximum(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0.0)
    inter_h = np.maximum(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0.0)
    inter = inter_w * inter_h
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    areas = np.maximum(others[:, 2] - others[:, 0], 0.0) * np.maximum(others[:, 3] - others[:, 1], 0.0)
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def precision_recall(truth, detections, score_threshold=SCORE_THRESHOLD, iou_threshold=IOU_THRESHOLD):
    """Greedy per-image, per-class matching (see module doc): (precision, recall)."""
    kept = matched = total = 0
    for boxes, found in zip(truth, detections, strict=True):
        total += len(boxes)
        truths = np.asarray([b[:4] for b in boxes], np.float64).reshape(-1, 4)
        truth_classes = np.asarray([int(b[4]) for b in boxes], np.int64)
        used = np.zeros(len(boxes), bool)
        passing = sorted((d for d in found if float(d[4]) > score_threshold), key=lambda d: -float(d[4]))
        kept += len(passing)
        for x1, y1, x2, y2, _, klass in passing:
            candidates = (truth_classes == int(klass)) & ~used
            if not candidates.any():
                continue
            ious = np.where(candidates, _pair_iou(np.array([x1, y1, x2, y2], np.float64), truths), -1.0)
            best = int(np.argmax(ious))
            if ious[best] >= iou_threshold:
                used[best] = True
                matched += 1
    precision = matched / kept if kept else 0.0
    recall = matched / total if total else 0.0
    return float(precision), float(recall)
