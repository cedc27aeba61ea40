"""YOLO math with real TensorFlow: targets, loss, anchors, sensenet-equal decoding, COCO metrics.

Boxes are drawn small and by hand on a 64 x 64 input, so each expectation (cell, anchor,
value) can be read off the test. Decoding is checked against sensenet 0.7.5 itself, on
random networks in its JSON format built with `create_model`.
"""

import copy
import functools
import math

import numpy as np
import pytest

from pyramid.detection.anchors import anchors_from_config, choose_anchors
from pyramid.detection.decode import decode_raw, detections, filter_detections, to_original
from pyramid.detection.evaluation import coco_metrics
from pyramid.detection.loss import yolo_loss
from pyramid.detection.targets import yolo_targets
from pyramid.importers import keras, tf

# sensenet after pyramid.importers, which sets TensorFlow up for it.
from sensenet.models.wrappers import create_model
from sensenet.pretrained import PRETRAINED_CNN_METADATA

S = 64
C = 3
# Two branches as tinyyolov4 has them, at a 64-pixel input: grids 4 x 4 and 2 x 2.
BRANCHES = [
    {"strides": 16, "anchors": [[8, 8], [16, 16], [24, 24]], "xyscale": 1.05, "input": 1},
    {"strides": 32, "anchors": [[32, 32], [40, 48], [60, 60]], "xyscale": 1.05, "input": 2},
]


def padded(rows_per_image):
    """(boxes [B, M, 5] float32, counts [B]) from per-image lists of (x1, y1, x2, y2, class)."""
    slots = max([len(rows) for rows in rows_per_image] + [1])
    boxes = np.zeros((len(rows_per_image), slots, 5), np.float32)
    for image, rows in enumerate(rows_per_image):
        for slot, row in enumerate(rows):
            boxes[image, slot] = row
    return boxes, np.array([len(rows) for rows in rows_per_image], np.int32)


def positives(labels):
    """{(branch, image, row, col, anchor)} of the anchors with objectness 1."""
    return {
        (b, *map(int, index))
        for b, label in enumerate(labels)
        for index in np.argwhere(label.numpy()[..., 4] > 0)
    }


def logit(p):
    return math.log(p / (1 - p))


def encode(box_xywh, branch, row, col, anchor):
    """Raw (tx, ty, tw, th) that sensenet's decode turns into `box_xywh` at that cell/anchor."""
    k, s = branch["xyscale"], branch["strides"]
    x, y, w, h = box_xywh
    tx = logit((x / s - col + 0.5 * (k - 1)) / k)
    ty = logit((y / s - row + 0.5 * (k - 1)) / k)
    aw, ah = branch["anchors"][anchor]
    return [tx, ty, math.log(w / aw), math.log(h / ah)]


# Targets -------------------------------------------------------------------------------------


def test_box_lands_at_its_cell_and_anchors_with_smoothed_classes():
    # Centre (40, 20), 16 x 16: stride-16 cell row 1, col 2. IoU with the anchors centred on
    # it: 8x8 0.25, 16x16 1.0, 24x24 0.44; 32x32 0.25, 40x48 0.13, 60x60 0.07.
    boxes, counts = padded([[(32, 12, 48, 28, 1)]])
    labels, true_boxes, valid = yolo_targets(boxes, counts, BRANCHES, S, C, label_smoothing=0.3)
    assert [tuple(label.shape) for label in labels] == [(1, 4, 4, 3, 8), (1, 2, 2, 3, 8)]
    assert positives(labels) == {(0, 0, 1, 2, 1), (0, 0, 1, 2, 2)}
    np.testing.assert_allclose(labels[0][0, 1, 2, 1].numpy(), [40, 20, 16, 16, 1, 0.1, 0.8, 0.1], rtol=1e-6)
    np.testing.assert_array_equal(true_boxes.numpy(), [[[40, 20, 16, 16]]])
    assert valid.numpy().tolist() == [[True]]


def test_two_boxes_on_one_cell_and_anchor_larger_wins_whatever_the_order():
    # Both claim anchors 1 (16x16) and 2 (24x24) of the stride-16 cell (1, 2), and nothing else.
    small = (32.5, 12.5, 47.5, 27.5, 0)  # 15 x 15 at (40, 20): IoU 0.28 with 8x8, 0.88, 0.39
    large = (32.5, 12.5, 49.5, 29.5, 2)  # 17 x 17 at (41, 21): 0.22, 0.89, 0.50; 32x32 0.28
    twin = (31.5, 11.5, 48.5, 28.5, 1)  # another 17 x 17, at (40, 20)
    for rows in ([small, large], [large, small]):
        boxes, counts = padded([rows])
        labels, _, _ = yolo_targets(boxes, counts, BRANCHES, S, C)
        assert positives(labels) == {(0, 0, 1, 2, 1), (0, 0, 1, 2, 2)}
        for anchor in (1, 2):
            np.testing.assert_array_equal(labels[0][0, 1, 2, anchor].numpy(), [41, 21, 17, 17, 1, 0, 0, 1])
    # Equal areas: the earlier row wins, in eager mode and in a graph, every time.
    graph = tf.function(lambda b, c: yolo_targets(b, c, BRANCHES, S, C)[0])
    for rows, winner in (([large, twin], 2), ([twin, large], 1)):
        boxes, counts = padded([rows])
        for labels in [yolo_targets(boxes, counts, BRANCHES, S, C)[0]] + [
            graph(boxes, counts) for _ in range(3)
        ]:
            assert int(np.argmax(labels[0][0, 1, 2, 2, 5:].numpy())) == winner


def test_centres_outside_the_image_are_dropped_not_wrapped():
    boxes, counts = padded(
        [
            [
                (-10, 12, 2, 28, 0),  # centre x -4: left of the image
                (32, -9, 48, 7, 1),  # centre y -1: above it
                (60, 12, 68, 28, 2),  # centre x 64 = S: right of it
                (32, 12, 48, 28, 1),  # inside
            ]
        ]
    )
    labels, true_boxes, valid = yolo_targets(boxes, counts, BRANCHES, S, C)
    assert valid.numpy().tolist() == [[False, False, False, True]]
    assert positives(labels) == {(0, 0, 1, 2, 1), (0, 0, 1, 2, 2)}  # nothing at the last row/col
    np.testing.assert_array_equal(true_boxes.numpy()[0, :3], 0)


def test_padding_rows_and_bad_classes_are_ignored():
    rows = [(32, 12, 48, 28, 1), (0, 0, 16, 16, 0), (0, 40, 20, 60, 7)]
    boxes, _ = padded([rows, rows])
    labels, true_boxes, valid = yolo_targets(boxes, np.array([1, 3], np.int32), BRANCHES, S, C)
    assert valid.numpy().tolist() == [[True, False, False], [True, True, False]]  # class 7 >= C
    assert {p for p in positives(labels) if p[1] == 0} == {(0, 0, 1, 2, 1), (0, 0, 1, 2, 2)}
    assert {p for p in positives(labels) if p[1] == 1} == {
        (0, 1, 1, 2, 1),
        (0, 1, 1, 2, 2),
        (0, 1, 0, 0, 1),
        (0, 1, 0, 0, 2),
    }
    np.testing.assert_array_equal(true_boxes.numpy()[0, 1:], 0)


def test_best_anchor_over_all_branches_when_none_passes():
    branches = [BRANCHES[0], dict(BRANCHES[1], anchors=[[32, 32], [48, 8], [60, 60]])]
    # 60 x 2 at (32, 32): IoU 0.09, 0.11, 0.07 with the stride-16 anchors, 0.06, 0.24 (48x8)
    # and 0.03 with the stride-32 ones: none above 0.3, the best is 48x8 at cell (1, 1).
    # A zero-size box overlaps nothing: the first anchor of the first branch, at its cell.
    boxes, counts = padded([[(2, 31, 62, 33, 0)], [(20, 20, 20, 20, 2)]])
    labels, _, valid = yolo_targets(boxes, counts, branches, S, C)
    assert valid.numpy().tolist() == [[True], [True]]
    assert positives(labels) == {(1, 0, 1, 1, 1), (0, 1, 1, 1, 0)}


def test_images_without_box_slots():
    labels, true_boxes, valid = yolo_targets(np.zeros((2, 0, 5), np.float32), [0, 0], BRANCHES, S, C)
    assert [tuple(label.shape) for label in labels] == [(2, 4, 4, 3, 8), (2, 2, 2, 3, 8)]
    assert not positives(labels) and true_boxes.shape == (2, 0, 4) and valid.shape == (2, 0)


def test_targets_in_a_dataset_pipeline_equal_eager_ones():
    boxes, counts = padded(
        [[(32, 12, 48, 28, 1)], [], [(0, 0, 30, 10, 2), (40, 40, 60, 63, 0)], [(5, 5, 9, 9, 0)]]
    )
    eager = yolo_targets(boxes, counts, BRANCHES, S, C, label_smoothing=0.1)
    dataset = tf.data.Dataset.from_tensor_slices((boxes, counts)).batch(2)
    dataset = dataset.map(lambda b, c: yolo_targets(b, c, BRANCHES, S, C, label_smoothing=0.1))
    for index, (labels, true_boxes, valid) in enumerate(dataset):
        part = slice(2 * index, 2 * index + 2)
        for ours, theirs in zip(labels, eager[0]):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy()[part])
        np.testing.assert_array_equal(true_boxes.numpy(), eager[1].numpy()[part])
        np.testing.assert_array_equal(valid.numpy(), eager[2].numpy()[part])


# Loss ----------------------------------------------------------------------------------------


def random_batch(seed=0):
    """Four images: three random boxes; none; five; a zero-area and a zero-width box."""
    rng = np.random.default_rng(seed)
    images = []
    for count in (3, 0, 5):
        rows = []
        for _ in range(count):
            x, y = rng.uniform(2, 62, 2)
            w, h = rng.uniform(3, 40, 2)
            rows.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2, rng.integers(0, C)))
        images.append(rows)
    images.append([(20, 20, 20, 20, 1), (10, 30, 10, 50, 0)])  # zero area, zero width
    return padded(images)


def random_heads(batch, scale, seed=0):
    rng = np.random.default_rng(seed)
    return [
        tf.Variable(
            rng.normal(0, scale, (batch, S // b["strides"], S // b["strides"], 3 * (5 + C))).astype(
                np.float32
            )
        )
        for b in BRANCHES
    ]


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_loss_and_gradients_are_finite(scale):
    boxes, counts = random_batch()
    labels, true_boxes, valid = yolo_targets(boxes, counts, BRANCHES, S, C, label_smoothing=0.05)
    heads = random_heads(len(counts), scale)
    with tf.GradientTape() as tape:
        loss = yolo_loss(heads, labels, true_boxes, valid, BRANCHES, S, C)
    assert loss.shape == (4,) and loss.dtype == tf.float32
    # The same in a graph whose batch size and box count are unknown.
    spec = [tf.TensorSpec([None, S // b["strides"], S // b["strides"], 3 * (5 + C)]) for b in BRANCHES]
    label_spec = tuple(
        tf.TensorSpec([None, S // b["strides"], S // b["strides"], 3, 5 + C]) for b in BRANCHES
    )
    graph = tf.function(
        lambda h, l, t, v: yolo_loss(h, l, t, v, BRANCHES, S, C),
        input_signature=[
            spec,
            label_spec,
            tf.TensorSpec([None, None, 4]),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    np.testing.assert_allclose(graph(heads, labels, true_boxes, valid).numpy(), loss.numpy(), rtol=1e-5)
    assert np.all(np.isfinite(loss.numpy())) and np.all(loss.numpy() > 0)
    for gradient in tape.gradient(loss, heads):
        assert np.all(np.isfinite(gradient.numpy()))
    # 16-bit heads (mixed precision) give a float32 loss, close to the float32 one.
    for dtype in (tf.float16, tf.bfloat16):
        low = yolo_loss([tf.cast(h, dtype) for h in heads], labels, true_boxes, valid, BRANCHES, S, C)
        assert low.dtype == tf.float32 and np.all(np.isfinite(low.numpy()))
        if scale == 1.0:
            np.testing.assert_allclose(low.numpy(), loss.numpy(), rtol=0.02)


def perfect_heads(labels):
    """Raw heads whose decoded boxes, objectness and classes are exactly `labels`."""
    heads = []
    for branch, label in zip(BRANCHES, labels):
        label = label.numpy()
        raw = np.zeros(label.shape, np.float32)
        raw[..., 4] = -20.0
        for image, row, col, anchor in np.argwhere(label[..., 4] > 0):
            target = label[image, row, col, anchor]
            raw[image, row, col, anchor, :4] = encode(target[:4], branch, row, col, anchor)
            raw[image, row, col, anchor, 4] = 20.0
            raw[image, row, col, anchor, 5:] = np.where(target[5:] > 0.5, 20.0, -20.0)
        heads.append(tf.constant(raw.reshape(label.shape[:3] + (-1,))))
    return heads


def test_targets_and_decoding_agree_and_perfect_heads_cost_nothing():
    boxes, counts = random_batch(seed=3)
    boxes, counts = boxes[:3], counts[:3]  # no zero-size box: exp(tw) cannot give 0
    labels, true_boxes, valid = yolo_targets(boxes, counts, BRANCHES, S, C)
    heads = perfect_heads(labels)
    decoded, scores, classes = decode_raw(heads, BRANCHES, S, C)
    wanted = np.concatenate([label.numpy().reshape(3, -1, 5 + C) for label in labels], axis=1)
    positive = wanted[..., 4] > 0
    assert positive.sum() >= 8
    xy, wh = wanted[..., :2], wanted[..., 2:4]
    np.testing.assert_allclose(
        decoded.numpy()[positive], np.concatenate([xy - wh / 2, xy + wh / 2], -1)[positive], atol=1e-3
    )
    np.testing.assert_array_equal(classes.numpy()[positive], np.argmax(wanted[..., 5:], -1)[positive])
    assert np.all(scores.numpy()[positive] > 0.999) and np.all(scores.numpy()[~positive] < 1e-6)
    loss = yolo_loss(heads, labels, true_boxes, valid, BRANCHES, S, C).numpy()
    assert np.all(loss < 1e-3), loss
    random = yolo_loss(random_heads(3, 1.0), labels, true_boxes, valid, BRANCHES, S, C).numpy()
    assert np.all(random > 10)


def test_negative_anchor_covering_a_true_box_is_ignored():
    # 16 x 16 at (24, 24): positive only at stride 16, cell (1, 1), anchors 1 and 2.
    boxes, counts = padded([[(16, 16, 32, 32, 0)]])
    labels, true_boxes, valid = yolo_targets(boxes, counts, BRANCHES, S, C)
    assert positives(labels) == {(0, 0, 1, 1, 1), (0, 0, 1, 1, 2)}
    heads = [h.numpy().reshape(h.shape[:3] + (3, 5 + C)) for h in perfect_heads(labels)]
    heads[0][..., 4] = np.where(labels[0].numpy()[..., 4] > 0, 20.0, -30.0)
    heads[1][..., 4] = -30.0
    # The stride-32 anchor 40x48 of cell (0, 0) predicts exactly the true box, with logit 2.
    heads[1][0, 0, 0, 1, :5] = encode((24, 24, 16, 16), BRANCHES[1], 0, 0, 1) + [2.0]
    heads = [tf.constant(h.reshape(h.shape[:3] + (-1,))) for h in heads]
    ignoring = yolo_loss(heads, labels, true_boxes, valid, BRANCHES, S, C, ignore_threshold=0.5)
    counting = yolo_loss(heads, labels, true_boxes, valid, BRANCHES, S, C, ignore_threshold=1.01)
    np.testing.assert_allclose((counting - ignoring).numpy(), [math.log1p(math.exp(2.0))], rtol=1e-4)


def test_training_a_small_head_lowers_the_loss():
    boxes, counts = random_batch(seed=1)
    labels, true_boxes, valid = yolo_targets(boxes, counts, BRANCHES, S, C, label_smoothing=0.01)
    rng = np.random.default_rng(0)
    features = [
        tf.constant(rng.normal(0, 1, (4, S // b["strides"], S // b["strides"], 16)).astype(np.float32))
        for b in BRANCHES
    ]
    heads = [
        keras.layers.Conv2D(
            3 * (5 + C), 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(seed)
        )
        for seed in range(len(BRANCHES))
    ]
    optimizer = keras.optimizers.Adam(0.01)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                yolo_loss([h(f) for h, f in zip(heads, features)], labels, true_boxes, valid, BRANCHES, S, C)
            )
        variables = [v for head in heads for v in head.trainable_variables]
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    losses = [float(step()) for _ in range(300)]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])


# Anchors -------------------------------------------------------------------------------------


def test_anchors_from_kmeans_are_deterministic_sorted_and_near_the_clusters():
    rng = np.random.default_rng(0)
    centres = np.array(
        [[6, 6], [10, 20], [20, 12], [30, 30], [50, 20], [20, 55], [60, 60], [90, 45], [45, 100]]
    )
    sizes = np.concatenate([c + rng.normal(0, 1, (40, 2)) for c in centres])
    anchors = choose_anchors(sizes, 3, seed=7)
    assert anchors == choose_anchors(sizes, 3, seed=7)
    assert len(anchors) == 3 and all(len(branch) == 3 for branch in anchors)
    flat = [pair for branch in anchors for pair in branch]
    assert all(isinstance(v, int) for pair in flat for v in pair)
    areas = [w * h for w, h in flat]
    assert areas == sorted(areas)
    assert sorted(map(tuple, flat)) == sorted(map(tuple, centres.tolist()))
    two = choose_anchors(sizes, 2, seed=7)
    assert len(two) == 2 and all(len(branch) == 3 for branch in two)


def test_anchors_with_few_sizes_or_none():
    # Two distinct sizes (the empty box is left out) for six anchors: tiled, then sorted.
    few = choose_anchors([[10, 10], [30, 20], [10, 10], [0, 5]], 2, seed=0)
    assert few == [[[10, 10]] * 3, [[30, 20]] * 3]
    # No box at all: sensenet's pretrained anchors, scaled to the input size.
    assert choose_anchors([], 2, seed=0, input_size=416) == [
        [[23, 27], [37, 58], [81, 82]],
        [[81, 82], [135, 169], [344, 319]],
    ]
    assert choose_anchors(np.zeros((0, 2)), 3, seed=0, input_size=208)[0] == [[6, 8], [10, 18], [20, 14]]


def test_anchors_from_config():
    pairs = [[81, 82], [23, 27], [37, 58], [344, 319], [135, 169], [81, 82]]
    assert anchors_from_config(pairs, 2) == [
        [[23, 27], [37, 58], [81, 82]],
        [[81, 82], [135, 169], [344, 319]],
    ]
    assert len(anchors_from_config(pairs + pairs[:3], BRANCHES + BRANCHES[:1])) == 3
    with pytest.raises(ValueError, match="has 6 anchors; a network with 3 YOLO branches needs exactly 9"):
        anchors_from_config(pairs, 3)
    with pytest.raises(ValueError, match="not a \\[width, height\\] pair"):
        anchors_from_config(pairs[:5] + [[3, 0]], 2)


# Decoding: equal to sensenet -----------------------------------------------------------------


def head_weights(rng, inputs, width, n_classes, spread):
    kernel = rng.normal(0, spread, (1, 1, inputs, width))
    bias = np.zeros((3, 5 + n_classes))
    bias[:, 2:4] = rng.normal(0, 0.5, (3, 2))
    bias[:, 4] = rng.normal(0.0, 1.5, 3)
    bias[:, 5:] = rng.normal(0.5, 1.5, (3, n_classes))
    return kernel.tolist(), bias.reshape(-1).tolist()


def detector_document(image_network):
    return {
        "preprocess": [{"type": "image", "index": 0}],
        "output_exposition": {"type": "bounding_box", "values": ["a", "b", "c"]},
        "layers": [],
        "trees": None,
        "image_network": image_network,
    }


def small_tinyyolo(seed=0):
    """sensenet's tinyyolov4 at 64 x 64, an eighth of its filters, random 24-filter heads."""
    rng = np.random.default_rng(seed)
    network = copy.deepcopy(PRETRAINED_CNN_METADATA["tinyyolov4"]["image_network"])
    network["metadata"]["input_image_shape"] = [S, S, 3]
    heads = [branch["input"] for branch in network["metadata"]["outputs"]]
    layers = network["layers"]
    for index, layer in enumerate(layers):
        layer["seed"] = index + 1
        if layer["type"] == "convolution_2d" and index not in heads:
            layer["number_of_filters"] //= 8
    for index in heads:
        source = layers[layers[index]["inputs"][0]]
        while source["type"] != "convolution_2d":
            source = layers[source["inputs"][0]]
        kernel, bias = head_weights(rng, source["number_of_filters"], 3 * (5 + C), C, 40.0)
        layers[index].update(kernel=kernel, bias=bias, number_of_filters=3 * (5 + C))
    return detector_document(network)


def small_yolov4(seed=0):
    """A three-branch network (strides 8, 16, 32, yolov4's xyscales) of six small layers."""
    rng = np.random.default_rng(seed)

    def conv(size, stride, inputs, seed):
        layer = {
            "type": "convolution_2d",
            "kernel": "glorot_uniform",
            "bias": "zeros",
            "seed": seed,
            "activation_function": "leaky_relu",
            "padding": "same",
            "strides": [stride, stride],
            "number_of_filters": 8,
            "kernel_dimensions": [size, size],
        }
        return dict(layer, inputs=inputs) if inputs else layer

    def head(inputs):
        kernel, bias = head_weights(rng, 8, 3 * (5 + C), C, 1.5)
        return {
            "type": "convolution_2d",
            "kernel": kernel,
            "bias": bias,
            "activation_function": "linear",
            "padding": "same",
            "strides": [1, 1],
            "number_of_filters": 3 * (5 + C),
            "kernel_dimensions": [1, 1],
            "inputs": inputs,
        }

    outputs = [
        {"strides": 8, "anchors": [[6, 8], [12, 10], [10, 20]], "xyscale": 1.2, "input": 1},
        {"strides": 16, "anchors": [[18, 30], [30, 20], [28, 40]], "xyscale": 1.1, "input": 3},
        {"strides": 32, "anchors": [[40, 30], [48, 56], [70, 64]], "xyscale": 1.05, "input": 5},
    ]
    layers = [conv(8, 8, None, 1), head([0]), conv(3, 2, [0], 2), head([2]), conv(3, 2, [2], 3), head([4])]
    metadata = {
        "base_image_network": "yolov4",
        "input_image_shape": [S, S, 3],
        "loading_method": "normalizing",
        "rescale_type": "pad",
        "outputs": outputs,
        "version": "test",
    }
    return detector_document({"layers": layers, "metadata": metadata})


def with_heads(detector):
    """sensenet's own detector model with its raw head outputs added, so one run gives both.

    Head outputs computed by another run (eager, or another graph) can differ from the
    detector's in the last bits, and a far-off box then rounds to another pixel: the
    decoding is compared on the very numbers sensenet decoded.
    """
    heads = [
        layer
        for layer in detector._model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.filters == 3 * (5 + C)
    ]
    heads.sort(key=lambda layer: -layer.output.shape[1])  # branch order: finest grid first
    return keras.Model(
        detector._model.input, list(detector._model.outputs) + [layer.output for layer in heads]
    )


def run(model, picture):
    """(sensenet's outputs, raw head outputs) for one picture, as the wrapper predicts."""
    outputs = model.predict(picture[None].astype(np.float32), verbose=0)
    return outputs[:3], outputs[3:]


def as_object_detector(found):
    """sensenet's ObjectDetector.__call__ turning its model's outputs into detections."""
    return [
        {"box": [int(c) for c in box], "label": "abc"[int(klass)], "score": float(score)}
        for box, score, klass in zip(found[0][0], found[1][0], found[2][0])
    ]


@functools.lru_cache(maxsize=None)
def pictures():
    rng = np.random.default_rng(5)
    return tuple(rng.integers(0, 256, hw + (3,)).astype(np.uint8) for hw in ((50, 70), (90, 40)))


def check_unfiltered(document):
    detector = create_model(document, {"output_unfiltered_boxes": True})
    model = with_heads(detector)
    branches = document["image_network"]["metadata"]["outputs"]
    for index, picture in enumerate(pictures()):
        (boxes, scores, classes), raw = run(model, picture)
        if index == 0:  # the model with heads predicts what the wrapper does
            for theirs, ours in zip(detector(picture), (boxes, scores, classes)):
                np.testing.assert_array_equal(theirs, ours)
        ours, our_scores, our_classes = decode_raw(raw, branches, S, C)
        np.testing.assert_array_equal(to_original(ours, S, [picture.shape[:2]]).numpy(), boxes)
        np.testing.assert_allclose(our_scores.numpy(), scores, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(our_classes.numpy(), classes)
        assert boxes.shape[1] == sum((S // b["strides"]) ** 2 * 3 for b in branches)


def test_decode_equals_sensenet_on_a_small_tinyyolov4():
    check_unfiltered(small_tinyyolo())


def test_decode_and_detections_equal_sensenet_for_several_thresholds():
    document = small_yolov4()
    branches = document["image_network"]["metadata"]["outputs"]
    check_unfiltered(document)
    counts = set()
    for score_threshold, iou_threshold, max_objects in [
        (0.5, 0.5, 32),
        (0.3, 0.2, 32),
        (0.7, 0.6, 32),
        (0.2, 0.4, 5),
    ]:
        detector = create_model(
            document,
            {
                "bounding_box_threshold": score_threshold,
                "iou_threshold": iou_threshold,
                "max_objects": max_objects,
            },
        )
        model = with_heads(detector)
        raws, all_theirs = [], []
        for index, picture in enumerate(pictures()):
            found, raw = run(model, picture)
            theirs = as_object_detector(found)
            if index == 0 and max_objects == 32 and score_threshold == 0.5:
                assert detector(picture) == theirs
            ours = detections(
                [r[0] for r in raw],
                branches,
                S,
                C,
                picture.shape[:2],
                score_threshold,
                iou_threshold,
                max_objects,
            )
            assert [(d["box"], d["label"]) for d in theirs] == [(d["box"], "abc"[d["class"]]) for d in ours]
            np.testing.assert_allclose(
                [d["score"] for d in ours], [d["score"] for d in theirs], atol=1e-5, rtol=0
            )
            counts.add(len(ours))
            raws.append(raw)
            all_theirs.append(theirs)
        # The batched filter gives each image of a batch its own result, in one call.
        batch = [np.concatenate([raw[b] for raw in raws]) for b in range(len(branches))]
        boxes, scores, classes = decode_raw(batch, branches, S, C)
        sizes = [picture.shape[:2] for picture in pictures()]
        kept, _, kept_classes, valid = filter_detections(
            boxes, scores, classes, S, sizes, score_threshold, iou_threshold, max_objects
        )
        for image, theirs in enumerate(all_theirs):
            assert int(valid[image]) == len(theirs)
            assert kept.numpy()[image, : len(theirs)].astype(int).tolist() == [d["box"] for d in theirs]
            assert ["abc"[c] for c in kept_classes.numpy()[image, : len(theirs)]] == [
                d["label"] for d in theirs
            ]
    assert len(counts) >= 3 and 0 not in counts, counts  # the settings did change the result


# COCO metrics --------------------------------------------------------------------------------

TRUTH = [
    [(0, 0, 100, 100, 0), (50, 50, 80, 90, 1)],
    [],  # an image without boxes
    [(10, 10, 40, 40, 2)],
]


def test_perfect_detections_score_one(capfd):
    found = [[box[:4] + (0.9, box[4]) for box in boxes] for boxes in TRUTH]
    metrics = coco_metrics(TRUTH, found, n_classes=5)  # classes 3 and 4 absent from the holdout
    assert metrics == pytest.approx({"map_50": 1.0, "map_50_95": 1.0, "precision": 1.0, "recall": 1.0})
    assert capfd.readouterr().out == ""


def test_no_detections_score_zero(capfd):
    assert coco_metrics(TRUTH, [[], [], []], n_classes=3) == {
        "map_50": 0.0,
        "map_50_95": 0.0,
        "precision": 0.0,
        "recall": 0.0,
    }
    assert coco_metrics([[], []], [[(0, 0, 5, 5, 0.9, 0)], []], n_classes=3)["map_50"] == 0.0
    assert capfd.readouterr().out == ""


def test_half_correct_detections():
    found = [
        # class 0 at IoU 0.78 (0.78 >= 0.50, 0.55, .. 0.75: 6 of the 10 COCO thresholds);
        # class 1 misplaced (IoU 0).
        [(0, 0, 100, 78, 0.9, 0), (0, 50, 20, 90, 0.8, 1)],
        [(1, 1, 5, 5, 0.7, 3)],  # a false positive of class 3, absent from the truth
        [(10, 10, 40, 40, 0.4, 2)],  # exact, but below the 0.5 score threshold
    ]
    metrics = coco_metrics(TRUTH, found, n_classes=4)
    # One true box per class 0, 1, 2 (class 3 has none and is left out of the means). AP is
    # 1 where the class's only detection matches its only box, else 0: at IoU 0.5 classes
    # 0 and 2 match; over the 10 thresholds class 0 averages 0.6, class 1 0, class 2 1.
    assert metrics["map_50"] == pytest.approx((1 + 0 + 1) / 3)
    assert metrics["map_50_95"] == pytest.approx((0.6 + 0 + 1) / 3)
    # Score > 0.5 keeps 3 detections, of which 1 matches; 3 true boxes.
    assert metrics["precision"] == pytest.approx(1 / 3)
    assert metrics["recall"] == pytest.approx(1 / 3)
