"""The TF.js export of finalize_output: a GraphModel written by tensorflowjs' converter from a
sensenet wrapper of a real deepnet document."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pyramid.errors import InputError
from pyramid.nets import model, topologies
from pyramid.worker import tfjs_export

from sensenet.models.wrappers import create_model  # after pyramid, which sets TensorFlow up

SIZE = (32, 32)


def deepnet(n_classes):
    """A sensenet wrapper of a `simple` image classifier with real (initial) weights, and the
    number of float32 weights it has."""
    network = topologies.image_network("simple", SIZE, "crop")
    exposition = {"type": "categorical", "values": ["class %d" % i for i in range(n_classes)]}
    document = model.network_document(network, topologies.default_readout(n_classes, "softmax"), exposition)
    built = model.BuiltModel(document)
    weights = sum(int(np.prod(variable.shape)) for variable in built.keras_model.weights)
    return create_model(built.document_with_weights()), weights


@pytest.fixture(scope="module")
def three_classes():
    return deepnet(3)


def read_json(path):
    with open(path) as stream:
        return json.load(stream)


def siblings(directory):
    return sorted(os.listdir(os.path.dirname(directory)))


def test_export_is_a_graph_model_with_its_shards(tmp_path, three_classes):
    wrapper, weights = three_classes
    directory = str(tmp_path / "final_model_js_export")

    model_json, bins = tfjs_export.write_tfjs(wrapper, directory)

    assert model_json == os.path.join(directory, "model.json")
    document = read_json(model_json)
    assert document["format"] == "graph-model"
    assert document["convertedBy"].startswith("TensorFlow.js Converter")
    assert document["modelTopology"]["node"]
    (output,) = document["signature"]["outputs"].values()
    assert [int(dim["size"]) for dim in output["tensorShape"]["dim"]] == [-1, 3]

    # The manifest names exactly the shards returned, which are all that is in the directory.
    named = [os.path.join(directory, path) for group in document["weightsManifest"] for path in group["paths"]]
    assert bins == named
    assert [os.path.basename(path) for path in bins] == ["group1-shard1of1.bin"]
    assert sorted(os.listdir(directory)) == sorted(["model.json"] + [os.path.basename(path) for path in bins])

    # float32 weights, unquantized: the shards hold the manifest's tensors byte for byte, about
    # the network's weight count (the converter folds batch normalisation into convolutions).
    specs = [spec for group in document["weightsManifest"] for spec in group["weights"]]
    assert {spec["dtype"] for spec in specs} <= {"float32", "int32"}
    manifest_bytes = sum(4 * int(np.prod(spec["shape"])) for spec in specs)
    total = sum(os.path.getsize(path) for path in bins)
    assert total == manifest_bytes
    assert 0.9 * 4 * weights <= total <= 1.02 * 4 * weights

    assert siblings(directory) == ["final_model_js_export"]


def test_second_export_replaces_the_first(tmp_path, three_classes):
    directory = str(tmp_path / "final_model_js_export")
    tfjs_export.write_tfjs(three_classes[0], directory)
    with open(os.path.join(directory, "group1-shard9of9.bin"), "wb") as stream:
        stream.write(b"left over")

    five_classes, _ = deepnet(5)
    model_json, bins = tfjs_export.write_tfjs(five_classes, directory)

    (output,) = read_json(model_json)["signature"]["outputs"].values()
    assert [int(dim["size"]) for dim in output["tensorShape"]["dim"]] == [-1, 5]
    assert sorted(os.listdir(directory)) == sorted(["model.json"] + [os.path.basename(path) for path in bins])
    assert siblings(directory) == ["final_model_js_export"]


def test_failed_conversion_keeps_the_earlier_export(tmp_path, three_classes, monkeypatch):
    directory = str(tmp_path / "final_model_js_export")
    model_json, _ = tfjs_export.write_tfjs(three_classes[0], directory)
    before = read_json(model_json)

    def broken(*args, **kwargs):
        raise ValueError("Unsupported Ops in the model\n  SomeOp")

    monkeypatch.setattr(tfjs_export.import_tensorflowjs().converters, "convert_tf_saved_model", broken)
    with pytest.raises(tfjs_export.TfjsExportError, match="converter failed: Unsupported Ops in the model SomeOp$"):
        tfjs_export.write_tfjs(three_classes[0], directory)

    assert read_json(model_json) == before
    assert siblings(directory) == ["final_model_js_export"]


def test_missing_tensorflowjs_is_one_clear_error(tmp_path, three_classes, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(tfjs_export, "_tensorflowjs", None)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorflowjs" else find_spec(name, *args))
    directory = tmp_path / "final_model_js_export"

    with pytest.raises(tfjs_export.TfjsExportError, match="tensorflowjs package is not installed") as raised:
        tfjs_export.write_tfjs(three_classes[0], str(directory))

    assert isinstance(raised.value, InputError)
    assert "\n" not in str(raised.value)
    assert not directory.exists()


def test_shards_come_in_numeric_order():
    names = ["group1-shard%dof12.bin" % i for i in range(1, 13)]
    assert sorted(reversed(names), key=tfjs_export._shard_order) == names


def test_stand_ins_are_gone_after_import():
    tfjs_export.import_tensorflowjs()
    for name in tfjs_export.UNUSED_IMPORTS:
        module = sys.modules.get(name)
        assert module is None or getattr(module, "__file__", None), name


def node_with_tfjs():
    """True when `node` can load @tensorflow/tfjs-converter (e.g. through NODE_PATH)."""
    node = shutil.which("node")
    if node is None:
        return False
    check = subprocess.run([node, "-e", "require.resolve('@tensorflow/tfjs-converter');"
                            "require.resolve('@tensorflow/tfjs-backend-cpu')"], capture_output=True)
    return check.returncode == 0


@pytest.mark.slow
def test_node_predicts_what_sensenet_predicts(tmp_path, three_classes):
    """Run with NODE_PATH naming a node_modules that holds @tensorflow/tfjs-core, -converter and
    -backend-cpu 4.22.0 (see benchmarks/tfjs_check.js)."""
    if not node_with_tfjs():
        pytest.skip("node with @tensorflow/tfjs-converter and -backend-cpu is not available (set NODE_PATH)")
    wrapper = three_classes[0]
    directory = str(tmp_path / "final_model_js_export")
    tfjs_export.write_tfjs(wrapper, directory)

    # An image of another size than the network's: the graph crops and scales it itself.
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 40, 48, 3)).astype(np.float32)
    pixels[0, :, :24] *= 0.3
    with open(tmp_path / "input.json", "w") as stream:
        json.dump({"shape": list(pixels.shape), "data": pixels.ravel().tolist()}, stream)
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "tfjs_check.js")
    run = subprocess.run(["node", script, directory, str(tmp_path / "input.json")],
                         capture_output=True, text=True, check=True)
    result = json.loads(run.stdout)

    expected = wrapper(pixels)
    assert result["shape"] == list(expected.shape)
    np.testing.assert_allclose(np.reshape(result["data"], result["shape"]), expected, rtol=1e-4, atol=1e-5)
