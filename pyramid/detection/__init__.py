"""Object detection (YOLO) math: anchors, training targets, loss, decoding and COCO metrics.

Everything here works on whole batches in TensorFlow graph code, with boxes carried as a
padded float32 tensor [B, M, 5] of (x1, y1, x2, y2, class_index) in input-image pixels
plus a count per image, and decodes network outputs exactly as sensenet 0.7.5 does, so
that pyramid's own predictions are the ones the written deepnet JSON gives.
"""
