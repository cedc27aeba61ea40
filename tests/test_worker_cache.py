"""The worker's info_list schema, `.ser` caches and image points, on real files: round trips,
byte layouts checked against Python's struct (the earlier implementation's reader), and every
error as the one line a user reads."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from pyramid.errors import InputError
from pyramid.worker.cache import Rows, Schema, points_rows, read_points_file, read_ser, read_training_rows, write_ser

IMAGE = {"index": 0, "type": "image"}
NUMERIC = {"index": 1, "type": "numeric", "mean": 4.935, "stdev": 0.6097}
SCALED = {"index": 2, "type": "numeric", "zero_value": 0.0, "one_value": 10.0}
COLOUR = {"index": 3, "type": "categorical", "values": ["blue", "green", "red"]}
CLASSES = {"index": 4, "type": "categorical", "values": ["zero", "one", "two"]}
AMOUNT = {"index": 4, "type": "numeric", "mean": 12.5, "stdev": 3.0}
WEIGHT = {"index": 5, "type": "numeric"}


def spec_rows(count, seed=0):
    """Rows for the spec's example [image, numeric, numeric, categorical, objective]."""
    rng = np.random.default_rng(seed)
    paths = ["dir/image_%04d.png" % row for row in range(count)]
    return Rows([paths, rng.normal(size=count), rng.normal(size=count), rng.integers(0, 3, count).astype(float)],
                None, rng.integers(0, 3, count).astype(float))


def assert_same(read, written):
    assert len(read) == len(written)
    for got, expected in zip(read.inputs, written.inputs):
        if isinstance(expected, list):
            assert got == expected
        else:
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, expected)
    if written.weights is None:
        assert read.weights is None
    else:
        np.testing.assert_array_equal(read.weights, written.weights)
    np.testing.assert_array_equal(read.objective, written.objective)


def message(call, *arguments):
    with pytest.raises(InputError) as caught:
        call(*arguments)
    text = str(caught.value)
    assert "\n" not in text
    return text


# --- Schema ----------------------------------------------------------------------------------


def test_schema_exposes_columns_and_model_keys():
    schema = Schema([IMAGE, NUMERIC, COLOUR, WEIGHT, dict(CLASSES, extra="kept")], instance_weights=True)
    assert schema.inputs == [IMAGE, NUMERIC, COLOUR]
    assert schema.preprocess == [IMAGE, NUMERIC, COLOUR]
    assert schema.image_positions == [0]
    assert schema.weight_position == 3
    assert schema.objective_position == 4
    assert schema.objective["index"] == 4
    assert schema.output_exposition == {"type": "categorical", "values": ["zero", "one", "two"], "extra": "kept"}
    assert schema.optypes == ["image", "numeric", "categorical", "numeric", "categorical"]
    assert schema.struct_format == "<32p4d"


def test_schema_from_document_and_without_weights():
    schema = Schema.from_document({"info_list": [IMAGE, CLASSES], "instance_weights": None})
    assert schema.weight_position is None and schema.optypes == ["image", "categorical"]
    assert schema.output_exposition == {"type": "categorical", "values": ["zero", "one", "two"]}
    assert Schema([NUMERIC, IMAGE, AMOUNT]).struct_format == "<d32pd"
    # An input's index is the dataset field's (not its position) and may be left out.
    assert Schema([{"type": "image"}, {"index": 9, "type": "numeric"}, CLASSES]).image_positions == [0]


def test_schema_copies_what_it_is_given():
    info_list = [IMAGE, dict(CLASSES, values=["a", "b"])]
    schema = Schema(info_list)
    info_list[1]["values"].append("c")
    assert schema.objective["values"] == ["a", "b"]


@pytest.mark.parametrize("info_list, weights, expected", [
    ({"type": "image"}, False, "info_list: {\"type\": \"image\"} is not allowed; expected a list of column objects"),
    ([IMAGE, "categorical"], False, 'info_list[1]: "categorical" is not allowed; expected a column object'),
    ([CLASSES], False, "info_list: 1 column is not allowed; expected at least one input column, then the objective"),
    ([IMAGE, CLASSES], True, "expected at least one input column, the weight column (instance_weights is true)"),
    ([IMAGE, {"index": 1, "values": ["a"]}], False, 'info_list[1]: missing required key "type"'),
    ([{"index": 0, "type": "text"}, CLASSES], False,
     'info_list[0].type: "text" is not allowed for an input column; expected one of "image", "numeric"'),
    ([IMAGE, {"index": 1, "type": "image"}], False,
     'info_list[1].type: "image" is not allowed for the objective (the last column); expected one of "categorical"'),
    ([IMAGE, IMAGE, CLASSES], True, 'info_list[1].type: "image" is not allowed for the weight column (second'),
    ([IMAGE, {"index": 0, "type": "bounding_box", "values": ["cat"]}, CLASSES], False,
     'info_list[1].type: "bounding_box" is not allowed for an input column'),
    ([IMAGE, {"type": "categorical", "values": ["a", "b"]}], False,
     'info_list[1]: missing required key "index"; the objective needs its field index'),
    ([dict(IMAGE, index=True), CLASSES], False, "info_list[0].index: true is not allowed; expected a non-negative"),
    ([dict(IMAGE, index=-1), CLASSES], False, "info_list[0].index: -1 is not allowed"),
    ([IMAGE, {"index": 3, "type": "categorical"}, CLASSES], False,
     'info_list[1]: missing required key "values"; a categorical column needs its class names'),
    ([IMAGE, dict(COLOUR, values=[]), CLASSES], False,
     "info_list[1].values: [] is not allowed; expected a non-empty list of strings"),
    ([IMAGE, dict(CLASSES, values=["a", 2])], False, 'info_list[1].values: ["a", 2] is not allowed'),
    ([IMAGE, dict(CLASSES, values=["a", "b", "a"])], False,
     'info_list[1].values[2]: "a" is not allowed; it is already in the list'),
    ([IMAGE, {"index": 4, "type": "numeric", "mean": 1.0}], False,
     'info_list[1]: missing required key "stdev"; a numeric objective needs "mean" and "stdev"'),
    ([IMAGE, dict(AMOUNT, mean="12")], False, 'info_list[1].mean: "12" is not allowed; expected a finite number'),
    ([IMAGE, dict(SCALED, one_value=True), CLASSES], False, "info_list[1].one_value: true is not allowed"),
])
def test_schema_errors_name_the_key_and_position(info_list, weights, expected):
    assert expected in message(Schema, info_list, weights)


def test_schema_document_errors():
    assert message(Schema.from_document, {}).startswith('missing required key "info_list"')
    assert message(Schema.from_document, {"info_list": [IMAGE, CLASSES], "instance_weights": 1}) == \
        "instance_weights: 1 is not allowed; expected true or false"


# --- .ser round trips ----------------------------------------------------------------------


def test_round_trip_of_the_spec_example_is_64_bytes_a_row(tmp_path):
    schema = Schema([IMAGE, NUMERIC, SCALED, COLOUR, CLASSES])
    assert schema.struct_format == "<32p4d"
    assert schema.row_size == struct.calcsize("<32p4d") == 64
    rows = spec_rows(300)
    path = str(tmp_path / "data.ser")
    write_ser(path, schema, rows)
    content = open(path, "rb").read()
    assert len(content) == 1 + 300 * 64 and content[:1] == b"D"
    assert_same(read_ser(path, schema, 300), rows)
    # The bytes are what the earlier implementation's struct reader expects.
    for row, unpacked in enumerate(struct.iter_unpack("<32p4d", content[1:])):
        assert unpacked[0].decode() == rows.inputs[0][row]
        assert unpacked[1:] == (rows.inputs[1][row], rows.inputs[2][row], rows.inputs[3][row], rows.objective[row])


def test_reads_a_file_written_with_struct(tmp_path):
    schema = Schema([NUMERIC, IMAGE, IMAGE, AMOUNT])
    paths = ["a.png", "é/ü.jpg", "x" * 31, ""]
    path = tmp_path / "struct.ser"
    path.write_bytes(b"D" + b"".join(struct.pack("<d32p32pd", row * 0.5, p.encode(), p[::-1].encode(), -row)
                                      for row, p in enumerate(paths)))
    rows = read_ser(str(path), schema, 4)
    assert rows.inputs[1] == paths and rows.inputs[2] == [p[::-1] for p in paths]
    np.testing.assert_array_equal(rows.inputs[0], [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(rows.objective, [0.0, -1.0, -2.0, -3.0])


def test_round_trip_with_weights_missing_categoricals_and_a_numeric_objective(tmp_path):
    schema = Schema([IMAGE, COLOUR, NUMERIC, WEIGHT, AMOUNT], instance_weights=True)
    rows = Rows([["p%d.png" % row for row in range(5)], np.array([0.0, -1.0, 2.0, -1.0, 1.0]),
                 np.array([0.5, -0.25, 0.0, 3.0, -2.0])],
                np.array([1.0, 0.5, 2.0, -3.0, 0.0]), np.array([-1.5, 0.0, 2.25, 1e300, -7.0]))
    path = str(tmp_path / "weighted.ser")
    write_ser(path, schema, rows)
    assert len(open(path, "rb").read()) == 1 + 5 * (32 + 4 * 8)
    assert_same(read_ser(path, schema, 5), rows)


def test_round_trip_without_images_and_of_no_rows(tmp_path):
    schema = Schema([NUMERIC, COLOUR, CLASSES])
    rows = Rows([np.array([1.0, 2.0]), np.array([2.0, -1.0])], None, np.array([0.0, 2.0]))
    write_ser(str(tmp_path / "a.ser"), schema, rows)
    assert_same(read_ser(str(tmp_path / "a.ser"), schema, 2), rows)
    empty, schema = Rows([[], np.zeros(0)], None, np.zeros(0)), Schema([IMAGE, NUMERIC, CLASSES])
    write_ser(str(tmp_path / "b.ser"), schema, empty)
    assert open(tmp_path / "b.ser", "rb").read() == b"D"
    assert_same(read_ser(str(tmp_path / "b.ser"), schema, 0), empty)


def test_write_refuses_rows_that_do_not_fit(tmp_path):
    schema = Schema([IMAGE, CLASSES])
    with pytest.raises(ValueError, match="does not fit a 32p Pascal string"):
        write_ser(str(tmp_path / "x.ser"), schema, Rows([["y" * 32]], None, np.zeros(1)))
    with pytest.raises(ValueError, match="rows do not fit the schema"):
        write_ser(str(tmp_path / "x.ser"), schema, Rows([["a", "b"]], None, np.zeros(1)))


# --- .ser errors ---------------------------------------------------------------------------


SPEC = [IMAGE, NUMERIC, SCALED, COLOUR, CLASSES]


def write_spec(tmp_path, count=3):
    path = str(tmp_path / "data.ser")
    write_ser(path, Schema(SPEC), spec_rows(count))
    return path


def patch(path, offset, data):
    with open(path, "r+b") as stream:
        stream.seek(offset)
        stream.write(data)


def test_missing_file_and_directory(tmp_path):
    missing = str(tmp_path / "nothing here.ser")
    assert message(read_ser, missing, Schema(SPEC), 3) == "the .ser cache %s does not exist" % json.dumps(missing)
    assert message(read_ser, str(tmp_path), Schema(SPEC), 3).endswith("is a directory, not a file")


def test_header_byte(tmp_path):
    path = write_spec(tmp_path)
    patch(path, 0, b"E")
    assert message(read_ser, path, Schema(SPEC), 3) == \
        "the .ser cache %s starts with byte 69 (b'E'); expected the header byte 68 (b'D')" % json.dumps(path)
    open(path, "wb").close()
    assert "%s is empty; expected the header byte 68" % json.dumps(path) in message(read_ser, path, Schema(SPEC), 0)


def test_partial_row_names_the_row_format(tmp_path):
    path = write_spec(tmp_path)
    with open(path, "ab") as stream:
        stream.write(b"\0" * 10)
    assert message(read_ser, path, Schema(SPEC), 3) == (
        "the .ser cache %s is not a whole number of rows: 202 bytes after the header, rows of <32p4d, 64 bytes, "
        "from info_list types image, numeric, numeric, categorical, categorical" % json.dumps(path))
    # A schema with one column too few or too many does not fit the file either.
    assert "rows of <32p3d, 56 bytes" in message(read_ser, write_spec(tmp_path), Schema([IMAGE, NUMERIC, COLOUR, CLASSES]), 3)


def test_row_count_must_equal_cache_rows(tmp_path):
    path = write_spec(tmp_path)
    assert message(read_ser, path, Schema(SPEC), 4) == \
        "cache_rows: 4 does not match the .ser cache %s, which holds 3 rows of 64 bytes" % json.dumps(path)
    assert message(read_ser, path, Schema(SPEC), "3") == 'cache_rows: "3" is not allowed; expected a non-negative integer'
    assert "cache_rows: true is not allowed" in message(read_ser, path, Schema(SPEC), True)


def test_pascal_length_over_31(tmp_path):
    path = write_spec(tmp_path)
    patch(path, 1 + 64 + 64, bytes([40]))
    assert message(read_ser, path, Schema(SPEC), 3) == (
        "the .ser cache %s, column 0 (info_list[0], image), row 2 (from 0): its length byte is 40; "
        "expected at most 31" % json.dumps(path))


def test_path_that_is_not_utf8_or_holds_a_zero_byte(tmp_path):
    path = write_spec(tmp_path)
    patch(path, 1 + 64, bytes([3]) + b"a\xffb")
    text = message(read_ser, path, Schema(SPEC), 3)
    assert text.startswith("the .ser cache %s, column 0 (info_list[0], image), row 1 (from 0): the path b'a\\xffb' "
                           "is not UTF-8" % json.dumps(path))
    patch(path, 1 + 64, bytes([3]) + b"a\0b")
    assert "row 1 (from 0): its path of 3 bytes holds a zero byte" in message(read_ser, path, Schema(SPEC), 3)


def test_bytes_past_the_length_are_ignored_as_struct_does(tmp_path):
    path = write_spec(tmp_path)
    patch(path, 1, bytes([3]))
    assert read_ser(path, Schema(SPEC), 3).inputs[0][0] == "dir"


@pytest.mark.parametrize("column, value, expected", [
    (1, float("nan"), "column 1 (info_list[1], numeric), row 1 (from 0): nan is not allowed; expected a finite number"),
    (2, float("-inf"), "column 2 (info_list[2], numeric), row 1 (from 0): -inf is not allowed"),
    (3, 3.0, "column 3 (info_list[3], categorical), row 1 (from 0): 3.0 is not allowed; expected a class index "
             "below 3, or negative for missing"),
    (3, 0.5, "column 3 (info_list[3], categorical), row 1 (from 0): 0.5 is not allowed"),
    (4, float("nan"), "column 4 (info_list[4], categorical), row 1 (from 0): nan is not allowed"),
])
def test_values_that_are_not_allowed(tmp_path, column, value, expected):
    path = write_spec(tmp_path)
    patch(path, 1 + 64 + 32 + 8 * (column - 1), struct.pack("<d", value))
    assert expected in message(read_ser, path, Schema(SPEC), 3)


def test_weights_and_numeric_objective_must_be_finite(tmp_path):
    schema = Schema([IMAGE, WEIGHT, AMOUNT], instance_weights=True)
    path = str(tmp_path / "w.ser")
    write_ser(path, schema, Rows([["a.png"]], np.array([np.inf]), np.zeros(1)))
    assert "column 1 (info_list[1], weight), row 0 (from 0): inf is not allowed" in message(read_ser, path, schema, 1)
    write_ser(path, schema, Rows([["a.png"]], np.ones(1), np.array([np.nan])))
    assert "column 2 (info_list[2], numeric), row 0 (from 0): nan" in message(read_ser, path, schema, 1)


def test_bounding_box_objective_has_no_ser(tmp_path):
    schema = Schema([IMAGE, {"index": 1, "type": "bounding_box", "values": ["cat", "dog"]}])
    assert schema.output_exposition == {"type": "bounding_box", "values": ["cat", "dog"]}
    assert message(read_ser, write_spec(tmp_path), schema, 3).startswith(
        'info_list[1].type: "bounding_box" objectives come as {file, boxes} points')


# --- points --------------------------------------------------------------------------------


POINTS = [{"file": "a.png", "label": "two", "weight": 0.5}, {"file": "b/c.png", "label": "zero", "weight": 2},
          {"file": "d.png", "label": 1}]


def test_points_become_rows():
    rows = points_rows(POINTS, Schema([IMAGE, CLASSES]), "image_training_data")
    assert rows.inputs == [["a.png", "b/c.png", "d.png"]]
    np.testing.assert_array_equal(rows.objective, [2.0, 0.0, 1.0])
    np.testing.assert_array_equal(rows.weights, [0.5, 2.0, 1.0])
    numeric = points_rows([{"file": "a.png", "label": -1.5, "weight": 1}], Schema([IMAGE, AMOUNT]), "x")
    np.testing.assert_array_equal(numeric.objective, [-1.5])


def test_training_rows_from_each_source(tmp_path):
    schema = Schema([IMAGE, CLASSES])
    json_path = tmp_path / "points.json"
    json_path.write_text(json.dumps(POINTS))
    from_file = read_training_rows(schema, str(json_path))
    from_document = read_training_rows(schema, "anything", image_training_data=POINTS)
    ser_path = str(tmp_path / "points.ser")
    write_ser(ser_path, schema, Rows(from_file.inputs, None, from_file.objective))
    from_ser = read_training_rows(schema, ser_path, 3)
    for rows in (from_document, from_ser):
        assert rows.inputs == from_file.inputs
        np.testing.assert_array_equal(rows.objective, from_file.objective)


@pytest.mark.parametrize("points, expected", [
    ({"file": "a.png"}, 'image_training_data: {"file": "a.png"} is not allowed; expected a list of'),
    (["a.png"], 'image_training_data[0]: "a.png" is not allowed; expected a {file, label, weight} object'),
    ([{"label": "one"}], 'image_training_data[0]: missing required key "file"'),
    ([{"file": "", "label": "one"}], 'image_training_data[0].file: "" is not allowed; expected a non-empty string'),
    ([POINTS[0], {"file": "a.png"}], 'image_training_data[1]: missing required key "label"'),
    ([{"file": "a.png", "label": "three"}],
     'image_training_data[0].label: "three" is not allowed; expected one of "zero", "one", "two", '
     "or a class index below 3"),
    ([{"file": "a.png", "label": 3}], "image_training_data[0].label: 3 is not allowed"),
    ([{"file": "a.png", "label": True}], "image_training_data[0].label: true is not allowed"),
    ([{"file": "a.png", "label": "one", "weight": "1"}],
     'image_training_data[0].weight: "1" is not allowed; expected a finite number'),
])
def test_point_errors_name_the_point(points, expected):
    assert expected in message(points_rows, points, Schema([IMAGE, CLASSES]), "image_training_data")


def test_point_schema_and_file_errors(tmp_path):
    assert 'expected a number (the objective is numeric)' in \
        message(points_rows, [{"file": "a.png", "label": "one"}], Schema([IMAGE, AMOUNT]), "x")
    assert message(points_rows, POINTS, Schema([IMAGE, NUMERIC, CLASSES]), "x") == \
        'info_list: input types ["image", "numeric"] are not allowed with {file, label, weight} points; ' \
        'expected one "image" input column'
    missing = str(tmp_path / "p.json")
    assert message(read_points_file, missing) == "the points file %s does not exist" % json.dumps(missing)
    (tmp_path / "p.json").write_text("[{]")
    text = message(read_training_rows, Schema([IMAGE, CLASSES]), missing)
    assert text.startswith("the points file %s is not valid JSON: " % json.dumps(missing))
    (tmp_path / "p.json").write_text(json.dumps([{"file": "a.png", "label": "four"}]))
    assert message(read_training_rows, Schema([IMAGE, CLASSES]), missing).startswith(
        "cache_file %s[0].label: \"four\" is not allowed" % json.dumps(missing))


def test_no_tensorflow():
    code = "import sys, pyramid.worker.cache; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
