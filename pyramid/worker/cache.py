"""The training rows the backend gives a worker job: its `info_list` schema, the binary `.ser`
cache, and the two lists of image points (a `.json` cache_file, `image_training_data`).

numpy only, never TensorFlow: a bad cache is reported as one line before TensorFlow loads.
Formats: worker-jobs.md sections 1 and 2; earlier-implementation.md section 9.1.

Decisions where the earlier implementation said nothing or failed obscurely:
- `index` is the column's field index in the BigML dataset, not its position (the spec's
  example skips 2). The objective must carry it (it is popped for `output_exposition`); an
  input's is checked only when present.
- A numeric input, weight or numeric objective value that is NaN or infinite is an error
  naming its row: the format has no missing numbers, and one NaN makes every loss NaN.
- A categorical value must be a class index or negative (missing, an all-zero one-hot);
  NaN, fractions and indices past `values` are errors. A missing objective is left to training.
- A Pascal length byte over 31 is an error (Python's struct silently cut it to 31), as is a
  zero byte inside the path. An empty path (length 0) is read as "" and left to the image
  reader, which knows image_root.
"""

import copy
import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pyramid.errors import InputError
from pyramid.settings.messages import show
from pyramid.settings.types import is_number

IMAGE, NUMERIC, CATEGORICAL, BOUNDING_BOX = "image", "numeric", "categorical", "bounding_box"
INPUT_TYPES = (IMAGE, NUMERIC, CATEGORICAL)
OBJECTIVE_TYPES = (CATEGORICAL, NUMERIC, BOUNDING_BOX)
NUMERIC_KEYS = ("mean", "stdev", "zero_value", "one_value")

HEADER = b"D"
IMAGE_BYTES = 32  # struct "32p": one length byte, then the path
PATH_BYTES = IMAGE_BYTES - 1
NUMBER_BYTES = 8  # "<d"


# ---------------------------------------------------------------------------------------------
# The schema


class Schema:
    """The columns of `info_list`, checked, in `.ser` order: inputs, then the weight column
    (with `instance_weights`), then the objective.

    `inputs` / `preprocess`: the input entries; `image_positions`: which of them are images;
    `weight_position`: the weight column's info_list position or None; `objective`: the last
    entry; `output_exposition`: it without `index`; `optypes`: every entry's type.
    """

    def __init__(self, info_list, instance_weights=False):
        _check_shape(info_list, instance_weights)
        self.entries = copy.deepcopy(info_list)
        self.instance_weights = instance_weights
        self.objective_position = len(info_list) - 1
        self.weight_position = self.objective_position - 1 if instance_weights else None
        self.input_count = len(info_list) - 1 - (1 if instance_weights else 0)
        for position, entry in enumerate(self.entries):
            _check_entry(entry, position, self._role(position))

    @classmethod
    def from_document(cls, document):
        """The schema of a job document's `info_list` and `instance_weights` (null is false)."""
        if "info_list" not in document:
            raise InputError('missing required key "info_list"; expected the list of column objects')
        weights = document.get("instance_weights")
        if weights is not None and not isinstance(weights, bool):
            raise InputError("instance_weights: %s is not allowed; expected true or false" % show(weights))
        return cls(document["info_list"], bool(weights))

    def _role(self, position):
        if position == self.objective_position:
            return "objective"
        return "weight" if position == self.weight_position else "input"

    @property
    def inputs(self):
        return self.entries[: self.input_count]

    @property
    def preprocess(self):
        return copy.deepcopy(self.inputs)

    @property
    def image_positions(self):
        return [position for position, entry in enumerate(self.inputs) if entry["type"] == IMAGE]

    @property
    def objective(self):
        return self.entries[-1]

    @property
    def output_exposition(self):
        return {key: copy.deepcopy(value) for key, value in self.objective.items() if key != "index"}

    def input_widths(self, image_width=None):
        """The width of each input column once encoded: 1 for a number, one per value for a
        category (one-hot), `image_width` features for an image."""
        def width(entry):
            if entry["type"] == IMAGE:
                return image_width
            return len(entry["values"]) if entry["type"] == CATEGORICAL else 1

        return [width(entry) for entry in self.inputs]

    @property
    def objective_width(self):
        """Columns of the encoded objective: one per class, or one number."""
        return len(self.objective["values"]) if self.objective["type"] == CATEGORICAL else 1

    @property
    def optypes(self):
        return [entry["type"] for entry in self.entries]

    @property
    def dtype(self):
        """One `.ser` row as a packed little-endian numpy record: field "c<position>" is 32
        raw bytes for an image column, a float64 for any other."""
        return np.dtype([("c%d" % position, (np.uint8, IMAGE_BYTES) if entry["type"] == IMAGE else "<f8")
                         for position, entry in enumerate(self.entries)])

    @property
    def row_size(self):
        return self.dtype.itemsize

    @property
    def struct_format(self):
        """The row as the earlier implementation's struct format, e.g. "<32p4d" (for messages)."""
        parts, numbers = [], 0
        for kind in self.optypes:
            if kind == IMAGE:
                parts.append(("%dd" % numbers if numbers > 1 else "d" * numbers) + "32p")
                numbers = 0
            else:
                numbers += 1
        parts.append("%dd" % numbers if numbers > 1 else "d" * numbers)
        return "<" + "".join(parts)

    def describe(self):
        """The row format and where it comes from, for messages about a file that does not fit."""
        return "%s, %d bytes, from info_list types %s" % (self.struct_format, self.row_size, ", ".join(self.optypes))


def _check_shape(info_list, instance_weights):
    if not isinstance(info_list, list):
        raise InputError("info_list: %s is not allowed; expected a list of column objects" % show(info_list))
    for position, entry in enumerate(info_list):
        if not isinstance(entry, dict):
            raise InputError('info_list[%d]: %s is not allowed; expected a column object like '
                             '{"index": 0, "type": "image"}' % (position, show(entry)))
    if len(info_list) < (3 if instance_weights else 2):
        raise InputError("info_list: %d column%s not allowed; expected at least one input column, %sthen the "
                         "objective" % (len(info_list), " is" if len(info_list) == 1 else "s are",
                                        "the weight column (instance_weights is true), " if instance_weights else ""))


def _check_entry(entry, position, role):
    key = "info_list[%d]" % position
    allowed = {"input": INPUT_TYPES, "objective": OBJECTIVE_TYPES, "weight": (NUMERIC, CATEGORICAL)}[role]
    if "type" not in entry:
        raise InputError('%s: missing required key "type"; expected one of %s' % (key, _choices(allowed)))
    if entry["type"] not in allowed:
        what = {"input": "an input column", "objective": "the objective (the last column)",
                "weight": "the weight column (second to last, as instance_weights is true)"}[role]
        raise InputError("%s.type: %s is not allowed for %s; expected one of %s"
                         % (key, show(entry["type"]), what, _choices(allowed)))
    _check_index(entry, key, required=role == "objective")
    if role == "weight":
        return
    if entry["type"] in (CATEGORICAL, BOUNDING_BOX):
        _check_values(entry, key)
    elif entry["type"] == NUMERIC:
        required = ("mean", "stdev") if role == "objective" else ()
        for name in NUMERIC_KEYS:
            _check_number(entry, name, key, required=name in required)


def _check_index(entry, key, required):
    if "index" not in entry:
        if required:
            raise InputError('%s: missing required key "index"; the objective needs its field index' % key)
        return
    index = entry["index"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InputError("%s.index: %s is not allowed; expected a non-negative integer (the field's index)"
                         % (key, show(index)))


def _check_values(entry, key):
    if "values" not in entry:
        raise InputError('%s: missing required key "values"; a %s column needs its class names'
                         % (key, entry["type"]))
    values = entry["values"]
    if not isinstance(values, list) or not values or not all(isinstance(value, str) for value in values):
        raise InputError("%s.values: %s is not allowed; expected a non-empty list of strings"
                         % (key, show(values)))
    seen = set()
    for position, value in enumerate(values):
        if value in seen:
            raise InputError("%s.values[%d]: %s is not allowed; it is already in the list (class names "
                             "must be distinct)" % (key, position, show(value)))
        seen.add(value)


def _check_number(entry, name, key, required):
    if name not in entry:
        if required:
            raise InputError('%s: missing required key "%s"; a numeric objective needs "mean" and "stdev"'
                             % (key, name))
        return
    if not is_number(entry[name]):
        raise InputError("%s.%s: %s is not allowed; expected a finite number" % (key, name, show(entry[name])))


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass
class Rows:
    """Training rows, column by column: `inputs` follows `schema.inputs` (a list of path
    strings, relative to image_root, for an image column; a float64 array otherwise);
    `weights` is a float64 array or None; `objective` is float64 (class indices, negative
    for missing, or numbers)."""

    inputs: list
    weights: Optional[np.ndarray]
    objective: np.ndarray

    def __len__(self):
        return len(self.objective)


def read_ser(path, schema, cache_rows):
    """The rows of the `.ser` cache at `path`, read in one pass with `schema.dtype`; the file
    must hold exactly `cache_rows` rows."""
    shown = "the .ser cache %s" % json.dumps(path)
    if schema.objective["type"] == BOUNDING_BOX:
        raise InputError('info_list[%d].type: "bounding_box" objectives come as {file, boxes} points, '
                         "not in a .ser cache" % schema.objective_position)
    if isinstance(cache_rows, bool) or not isinstance(cache_rows, int) or cache_rows < 0:
        raise InputError("cache_rows: %s is not allowed; expected a non-negative integer" % show(cache_rows))
    size = _ser_size(path, shown)
    body, row_size = size - len(HEADER), schema.row_size
    if body % row_size:
        raise InputError("%s is not a whole number of rows: %d bytes after the header, rows of %s"
                         % (shown, body, schema.describe()))
    if body // row_size != cache_rows:
        raise InputError("cache_rows: %d does not match %s, which holds %d rows of %d bytes"
                         % (cache_rows, shown, body // row_size, row_size))
    data = np.fromfile(path, dtype=schema.dtype, count=cache_rows, offset=len(HEADER))
    columns = [_column(data, position, entry, shown, position == schema.weight_position)
               for position, entry in enumerate(schema.entries)]
    weights = columns[schema.weight_position] if schema.instance_weights else None
    return Rows(columns[: schema.input_count], weights, columns[-1])


def _ser_size(path, shown):
    """The file's size, once its first byte is the header."""
    try:
        with open(path, "rb") as stream:
            first = stream.read(1)
            size = os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        raise InputError("%s does not exist" % shown) from None
    except IsADirectoryError:
        raise InputError("%s is a directory, not a file" % shown) from None
    except OSError as error:
        raise InputError("cannot read %s: %s" % (shown, error.strerror)) from None
    if first != HEADER:
        found = "is empty" if not first else "starts with byte %d (%r)" % (first[0], first)
        raise InputError("%s %s; expected the header byte 68 (b'D')" % (shown, found))
    return size


def _column(data, position, entry, shown, is_weight):
    values = data["c%d" % position]
    where = "%s, column %d (info_list[%d], %s)" % (shown, position, position, "weight" if is_weight else entry["type"])
    if entry["type"] == IMAGE:
        return _paths(values, where)
    values = values.astype(np.float64)
    if entry["type"] == CATEGORICAL and not is_weight:
        bad = ~(values < 0) & ((values != np.floor(values)) | (values >= len(entry["values"])))
        _refuse(bad, values, where, "expected a class index below %d, or negative for missing"
                % len(entry["values"]))
    else:
        _refuse(~np.isfinite(values), values, where, "expected a finite number")
    return values


def _refuse(bad, values, where, expected):
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError("%s, row %d (from 0): %r is not allowed; %s" % (where, row, float(values[row]), expected))


def _paths(raw, where):
    """Pascal strings to str: lengths checked for the whole column at once, the bytes past
    each length zeroed, then one numpy bytes view; only UTF-8 decoding goes row by row."""
    lengths = raw[:, 0]
    _refuse_rows(lengths > PATH_BYTES, lengths, where, "its length byte is %d; expected at most 31")
    body = raw[:, 1:].copy()
    inside = np.arange(PATH_BYTES)[None, :] < lengths[:, None]
    _refuse_rows(((body == 0) & inside).any(axis=1), lengths, where, "its path of %d bytes holds a zero byte")
    body[~inside] = 0
    strings = body.view("S%d" % PATH_BYTES).ravel()
    paths = []
    for row, value in enumerate(strings.tolist()):
        try:
            paths.append(value.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InputError("%s, row %d (from 0): the path %r is not UTF-8 (%s)"
                             % (where, row, value, error.reason)) from None
    return paths


def _refuse_rows(bad, lengths, where, reason):
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError("%s, row %d (from 0): %s" % (where, row, reason % lengths[row]))


def write_ser(path, schema, rows):
    """Write `rows` (a Rows fitting `schema`) as a `.ser` cache: the inverse of read_ser, for
    tests and fixtures."""
    count = len(rows)
    columns = list(rows.inputs) + ([rows.weights] if schema.instance_weights else []) + [rows.objective]
    if len(columns) != len(schema.entries) or any(len(column) != count for column in columns):
        raise ValueError("rows do not fit the schema: %d columns of lengths %s for %s"
                         % (len(columns), [len(column) for column in columns], schema.describe()))
    data = np.zeros(count, dtype=schema.dtype)
    for position, (entry, column) in enumerate(zip(schema.entries, columns)):
        name = "c%d" % position
        data[name] = _pascal(column) if entry["type"] == IMAGE else np.asarray(column, dtype=np.float64)
    with open(path, "wb") as stream:
        stream.write(HEADER)
        data.tofile(stream)


def _pascal(paths):
    encoded = [path.encode("utf-8") for path in paths]
    for path in encoded:
        if len(path) > PATH_BYTES or b"\0" in path:
            raise ValueError("path %r does not fit a 32p Pascal string" % path)
    raw = np.zeros((len(encoded), IMAGE_BYTES), dtype=np.uint8)
    raw[:, 0] = [len(path) for path in encoded]
    if encoded:
        raw[:, 1:] = np.array(encoded, dtype="S%d" % PATH_BYTES).view(np.uint8).reshape(len(encoded), PATH_BYTES)
    return raw


# ---------------------------------------------------------------------------------------------
# Image points: {file, label, weight}


def read_training_rows(schema, cache_file, cache_rows=None, image_training_data=None):
    """An image-training job's rows: `image_training_data` when given, else the `.json` points
    or (any other name) the `.ser` cache at `cache_file`."""
    if image_training_data is not None:
        return points_rows(image_training_data, schema, "image_training_data")
    if isinstance(cache_file, str) and cache_file.lower().endswith(".json"):
        return points_rows(read_points_file(cache_file), schema, "cache_file %s" % json.dumps(cache_file))
    return read_ser(cache_file, schema, cache_rows)


def read_points_file(path):
    """The list of points in a `.json` cache_file."""
    shown = "the points file %s" % json.dumps(path)
    try:
        with open(path, encoding="utf-8") as stream:
            points = json.load(stream)
    except FileNotFoundError:
        raise InputError("%s does not exist" % shown) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError("cannot read %s: %s" % (shown, getattr(error, "strerror", None) or error)) from None
    except json.JSONDecodeError as error:
        raise InputError("%s is not valid JSON: %s at line %d, column %d"
                         % (shown, error.msg, error.lineno, error.colno)) from None
    return points


def points_rows(points, schema, where):
    """Rows from a list of {file, label, weight} points: one image input column; a categorical
    label is a class name from the objective's `values` or a class index (the earlier
    implementation's own image_training_data held indices), a numeric label a number; weight
    is optional (1), any finite number (training takes its absolute value)."""
    _check_points_schema(schema)
    if not isinstance(points, list):
        raise InputError("%s: %s is not allowed; expected a list of {file, label, weight} points"
                         % (where, show(points)))
    files, labels, weights = [], [], []
    for index, point in enumerate(points):
        key = "%s[%d]" % (where, index)
        if not isinstance(point, dict):
            raise InputError("%s: %s is not allowed; expected a {file, label, weight} object" % (key, show(point)))
        files.append(_point_file(point, key))
        labels.append(_point_label(point, key, schema.objective))
        weights.append(_point_weight(point, key))
    return Rows([files], np.array(weights, dtype=np.float64), np.array(labels, dtype=np.float64))


def _check_points_schema(schema):
    if schema.objective["type"] == BOUNDING_BOX:
        raise InputError('info_list[%d].type: "bounding_box" points ({file, boxes}) are not read as '
                         "{file, label, weight} points" % schema.objective_position)
    if [entry["type"] for entry in schema.inputs] != [IMAGE]:
        raise InputError("info_list: input types %s are not allowed with {file, label, weight} points; "
                         'expected one "image" input column' % show([e["type"] for e in schema.inputs]))


def _point_file(point, key):
    file = point.get("file")
    if not isinstance(file, str) or not file:
        if "file" not in point:
            raise InputError('%s: missing required key "file"' % key)
        raise InputError("%s.file: %s is not allowed; expected a non-empty string (a path under image_root)"
                         % (key, show(file)))
    return file


def _point_label(point, key, objective):
    if "label" not in point:
        raise InputError('%s: missing required key "label"' % key)
    label = point["label"]
    if objective["type"] == NUMERIC:
        if not is_number(label):
            raise InputError("%s.label: %s is not allowed; expected a number (the objective is numeric)"
                             % (key, show(label)))
        return label
    values = objective["values"]
    if isinstance(label, str) and label in values:
        return values.index(label)
    if is_number(label) and label == int(label) and 0 <= label < len(values):
        return int(label)
    raise InputError("%s.label: %s is not allowed; expected one of %s, or a class index below %d"
                     % (key, show(label), _choices(values), len(values)))


def _point_weight(point, key):
    weight = point.get("weight", 1.0)
    if not is_number(weight):
        raise InputError("%s.weight: %s is not allowed; expected a finite number" % (key, show(weight)))
    return weight


# ---------------------------------------------------------------------------------------------


def _choices(names, limit=8):
    shown = ", ".join(json.dumps(name, ensure_ascii=False) for name in names[:limit])
    return shown + (", ... (%d in all)" % len(names) if len(names) > limit else "")
