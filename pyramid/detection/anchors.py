"""YOLO anchors: chosen by k-means over the training boxes, or taken from the config.

A YOLO network has 3 anchors per branch and its branches are ordered by increasing stride,
so anchors are sorted by ascending area and branch i gets anchors [3i, 3i + 3): the finest
grid predicts the smallest objects. Anchors are (width, height) in input-image pixels,
as sensenet's `yolo_decode` multiplies them by exp(tw, th).
"""

import numpy as np
from sklearn.cluster import KMeans

ANCHORS_PER_BRANCH = 3
# k-means restarts; fixed (not "auto") so the result does not depend on the library version.
KMEANS_INITS = 10
# sensenet's pretrained anchors (metadata "outputs" of tinyyolov4 and yolov4), for 416 x 416
# inputs. Without any training box there is nothing to cluster; these are what the pretrained
# networks were trained with, and scaled to the input size they keep their proportion to it.
DEFAULT_INPUT_SIZE = 416
DEFAULT_ANCHORS = {
    2: [[23, 27], [37, 58], [81, 82], [81, 82], [135, 169], [344, 319]],
    3: [[12, 16], [19, 36], [40, 28], [36, 75], [76, 55], [72, 146], [142, 110], [192, 243], [459, 401]],
}


def _branch_count(branches):
    """`branches` may be the number of YOLO branches or the list of branch specs."""
    count = branches if isinstance(branches, int) else len(branches)
    if count < 1:
        raise ValueError("a YOLO network needs at least one branch, not %d" % count)
    return count


def _by_branch(anchors, count):
    """Sort [w, h] pairs by ascending area (then width) and split them 3 per branch."""
    ordered = sorted(anchors, key=lambda pair: (pair[0] * pair[1], pair[0], pair[1]))
    return [ordered[ANCHORS_PER_BRANCH * i : ANCHORS_PER_BRANCH * (i + 1)] for i in range(count)]


def _to_int(values):
    """Rounded to whole pixels, at least 1 (a zero anchor would make every exp(tw) box empty)."""
    return [[max(1, int(round(float(v)))) for v in pair] for pair in values]


def choose_anchors(sizes_wh, branches, seed, input_size=DEFAULT_INPUT_SIZE):
    """Anchors for `branches` YOLO branches, as branches x 3 [w, h] ints, ascending area.

    `sizes_wh` are the training boxes' (width, height) at input scale (boxes of zero or
    negative size, or not finite, are left out). With more distinct sizes than anchors,
    the anchors are the centres of a seeded scikit-learn k-means over all the sizes (each
    box counts, so frequent sizes pull harder); with fewer or as many, the distinct sizes
    themselves, tiled cyclically when there are fewer. Without any box, sensenet's
    pretrained anchors for this number of branches scaled by input_size / 416 (for other
    branch counts, the 3-branch ones spread evenly).
    """
    count = _branch_count(branches)
    wanted = ANCHORS_PER_BRANCH * count
    sizes = np.asarray(sizes_wh, dtype=np.float64).reshape(-1, 2)
    sizes = sizes[np.all(np.isfinite(sizes), axis=1) & np.all(sizes > 0, axis=1)]
    if len(sizes) == 0:
        return _by_branch(_to_int(_default_anchors(wanted, input_size)), count)
    distinct, frequency = np.unique(sizes, axis=0, return_counts=True)
    if len(distinct) > wanted:
        # Euclidean k-means on (w, h) (scikit-learn has no 1 - IoU distance), from seeded
        # k-means++ starts, on the distinct sizes weighted by their frequency: the same
        # objective as over every box, in less time.
        kmeans = KMeans(n_clusters=wanted, n_init=KMEANS_INITS, random_state=int(seed), algorithm="lloyd")
        kmeans.fit(distinct, sample_weight=frequency.astype(np.float64))
        centres = kmeans.cluster_centers_
    else:
        # np.unique sorts, so tiling repeats the sizes in a fixed order.
        centres = [distinct[i % len(distinct)] for i in range(wanted)]
    return _by_branch(_to_int(centres), count)


def _default_anchors(wanted, input_size):
    count = wanted // ANCHORS_PER_BRANCH
    base = DEFAULT_ANCHORS.get(count)
    if base is None:
        pool = DEFAULT_ANCHORS[3]
        base = [pool[int(i)] for i in np.round(np.linspace(0, len(pool) - 1, wanted))]
    scale = float(input_size) / DEFAULT_INPUT_SIZE
    return [[w * scale, h * scale] for w, h in base]


def anchors_from_config(pairs, branches):
    """The config's `bounding_box_anchors`, checked and split 3 per branch (ascending area).

    Raises ValueError when the count is not 3 per branch (6 for 2 branches, 9 for 3) or a
    pair is not two positive numbers. Integral values become ints.
    """
    count = _branch_count(branches)
    wanted = ANCHORS_PER_BRANCH * count
    pairs = list(pairs)
    if len(pairs) != wanted:
        raise ValueError(
            "bounding_box_anchors has %d anchors; a network with %d YOLO branches needs exactly %d"
            % (len(pairs), count, wanted)
        )
    anchors = []
    for pair in pairs:
        values = list(pair) if isinstance(pair, (list, tuple, np.ndarray)) else None
        if (
            values is None
            or len(values) != 2
            or not all(
                isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                for v in values
            )
            or not all(np.isfinite(v) and v > 0 for v in values)
        ):
            raise ValueError(
                "bounding_box_anchors: %r is not a [width, height] pair of positive numbers" % (pair,)
            )
        anchors.append([int(v) if float(v).is_integer() else float(v) for v in values])
    return _by_branch(anchors, count)
