"""Per-image 3x3 maps in continuous pixel coordinates ([B, 3, 3] from [B] tensors)."""

from pyramid.importers import tf


def linear(a, b, c, d):
    """[[a, b, 0], [c, d, 0], [0, 0, 1]]."""
    zero, one = tf.zeros_like(a), tf.ones_like(a)
    return tf.reshape(tf.stack([a, b, zero, c, d, zero, zero, zero, one], axis=1), [-1, 3, 3])


def translation(dx, dy):
    one, zero = tf.ones_like(dx), tf.zeros_like(dx)
    return tf.reshape(tf.stack([one, zero, dx, zero, one, dy, zero, zero, one], axis=1), [-1, 3, 3])


def about_centre(forward, inverse, height, width):
    """The linear maps `forward` and `inverse` taken about the image centre."""
    batch = tf.shape(forward)[0]
    cx = tf.fill([batch], width / 2)
    cy = tf.fill([batch], height / 2)
    to_centre, back = translation(-cx, -cy), translation(cx, cy)
    return back @ forward @ to_centre, back @ inverse @ to_centre


def mirror(flip, size, axis):
    """x -> size - x along `axis` (0: x, 1: y) where `flip`, else the identity."""
    sign = tf.where(flip, -1.0, 1.0)
    shift = tf.where(flip, float(size), 0.0)
    one, zero = tf.ones_like(sign), tf.zeros_like(sign)
    if axis == 0:
        rows = [sign, zero, shift, zero, one, zero]
    else:
        rows = [one, zero, zero, zero, sign, shift]
    return tf.reshape(tf.stack(rows + [zero, zero, one], axis=1), [-1, 3, 3])


def homography(sources, targets):
    """Perspective maps taking the four `sources` points to `targets` ([B, 4, 2])."""
    x, y = sources[..., 0], sources[..., 1]
    u, v = targets[..., 0], targets[..., 1]
    zero, one = tf.zeros_like(x), tf.ones_like(x)
    # For each point: a x + b y + c - g x u - h y u = u, and likewise for v.
    rows_u = tf.stack([x, y, one, zero, zero, zero, -x * u, -y * u], axis=-1)
    rows_v = tf.stack([zero, zero, zero, x, y, one, -x * v, -y * v], axis=-1)
    system = tf.concat([rows_u, rows_v], axis=1)
    values = tf.concat([u, v], axis=1)[..., None]
    solution = tf.linalg.solve(tf.cast(system, tf.float64), tf.cast(values, tf.float64))
    solution = tf.cast(solution[..., 0], tf.float32)
    return tf.reshape(tf.concat([solution, tf.ones_like(solution[:, :1])], axis=1), [-1, 3, 3])
