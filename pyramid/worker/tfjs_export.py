"""The TF.js export of a final model: a GraphModel (`model.json` + `group1-shard*.bin`).

It is what sensenet's `SaveableModel.save_tfjs` does: the wrapper's Keras model is written as a
SavedModel (sensenet's own `write_raw_bundle`), then `tensorflowjs`' converter turns that into
a GraphModel with `skip_op_check=True`. sensenet silently writes nothing when `tensorflowjs`
does not import; here that is an error (`TfjsExportError`), and an earlier export in the same
directory is replaced only once the new one is complete.

`tensorflowjs` (installed by bin/install with `--no-deps`) imports two modules at load time that
the SavedModel conversion never uses, and that cannot work beside TensorFlow 2.21:

* `tensorflow_decision_forests`, imported only so that SavedModels holding TF-DF ops load.
  Its last release (1.12.0) is built for TensorFlow 2.19, and its custom ops fail to load
  against 2.21 (undefined symbols), so `import tensorflow_decision_forests` raises. pyramid's
  models hold no TF-DF ops.
* `jax.experimental.jax2tf`, used only by `tensorflowjs.converters.convert_jax`.

When either cannot be imported, an empty stand-in module takes its name while `tensorflowjs`
loads, and is removed again afterwards.
"""

import contextlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import types

from pyramid.errors import InputError
from pyramid.importers import quiet_stderr  # TensorFlow and sensenet set up first

MODEL_JSON = "model.json"

# Imported by tensorflowjs at load time, never used to convert a pyramid SavedModel.
UNUSED_IMPORTS = ("tensorflow_decision_forests", "jax.experimental.jax2tf")

_tensorflowjs = None


class TfjsExportError(InputError):
    """The TF.js export cannot be written: tensorflowjs is missing or its converter failed.
    Like every InputError, reported as one line."""


def import_tensorflowjs():
    """The `tensorflowjs` module, loaded once; TfjsExportError when it cannot be."""
    global _tensorflowjs
    if _tensorflowjs is not None:
        return _tensorflowjs
    if importlib.util.find_spec("tensorflowjs") is None:
        raise TfjsExportError(
            "cannot write the TF.js export: the tensorflowjs package is not installed (bin/install installs it)"
        )
    stubs = {}
    try:
        for name in UNUSED_IMPORTS:
            stubs.update(_stub_if_unimportable(name))
        with quiet_stderr():
            module = importlib.import_module("tensorflowjs")
            importlib.import_module("tensorflowjs.converters")
    except Exception as error:  # any failure of a third-party import
        raise TfjsExportError("cannot write the TF.js export: importing tensorflowjs failed: %s"
                              % _one_line(error)) from error
    finally:
        _remove(stubs)
    _tensorflowjs = module
    return module


def _stub_if_unimportable(name):
    """{module name: stand-in} for `name` and its missing parents, or {} when it imports."""
    try:
        with quiet_stderr():
            importlib.import_module(name)
        return {}
    except Exception:
        pass
    stubs = {}
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        qualified = ".".join(parts[:depth])
        if qualified not in sys.modules:
            stubs[qualified] = sys.modules[qualified] = types.ModuleType(qualified)
        if depth > 1:
            setattr(sys.modules[".".join(parts[: depth - 1])], parts[depth - 1], sys.modules[qualified])
    return stubs


def _remove(stubs):
    """Take the stand-ins out of sys.modules and off their parent modules."""
    for name, stub in stubs.items():
        if sys.modules.get(name) is stub:
            del sys.modules[name]
        parent, _, child = name.rpartition(".")
        if parent and getattr(sys.modules.get(parent), child, None) is stub:
            delattr(sys.modules[parent], child)


def _one_line(error):
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def write_tfjs(wrapper, directory):
    """Write `wrapper` (a sensenet model wrapper, e.g. from `create_model(document, settings)`)
    as a TF.js GraphModel into `directory`, replacing whatever export was there.

    The export is converted into a temporary sibling directory and swapped into place only
    when complete, so `directory` holds the old export or the new one, never a mix.
    Returns (path of model.json, paths of the weight shards in shard order).
    """
    tfjs = import_tensorflowjs()
    directory = os.path.abspath(directory)
    parent, name = os.path.split(directory)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise TfjsExportError("cannot write the TF.js export: %s exists and is not a directory" % directory)

    staging = tempfile.mkdtemp(prefix=".%s.new-" % name, dir=parent)
    try:
        with tempfile.TemporaryDirectory(prefix="pyramid-savedmodel-") as saved_model:
            # sensenet's own SavedModel writer (layers frozen, compiled, no optimizer).
            wrapper.write_raw_bundle(saved_model)
            output = os.path.join(staging, "export")
            try:
                with contextlib.redirect_stdout(sys.stderr), quiet_stderr():
                    tfjs.converters.convert_tf_saved_model(saved_model, output, skip_op_check=True)
            except Exception as error:
                raise TfjsExportError("cannot write the TF.js export: the tensorflowjs converter failed: %s"
                                      % _one_line(error)) from error
        _shards(output)  # the export is complete before it replaces anything
        _swap_into_place(output, directory, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(directory, MODEL_JSON), _shards(directory)


def _shards(directory):
    """The paths of the weight files that `directory`/model.json names (all present), shard 1
    first: in numeric order, so group1-shard10of12.bin comes after group1-shard9of12.bin."""
    model_json = os.path.join(directory, MODEL_JSON)
    try:
        with open(model_json) as stream:
            manifest = json.load(stream)["weightsManifest"]
    except (OSError, ValueError, KeyError) as error:
        raise TfjsExportError("cannot write the TF.js export: the converter wrote no usable %s (%s)"
                              % (MODEL_JSON, _one_line(error))) from error
    paths = sorted((os.path.join(directory, path) for group in manifest for path in group["paths"]),
                   key=_shard_order)
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise TfjsExportError("cannot write the TF.js export: the converter did not write %s" % missing[0])
    return paths


def _shard_order(path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", os.path.basename(path))]


def _swap_into_place(new, directory, staging):
    """Move the finished export `new` to `directory`; an old one there is moved into
    `staging` (deleted with it) first, and moved back if the new one cannot take its place."""
    old = None
    if os.path.isdir(directory):
        old = os.path.join(staging, "old")
        os.rename(directory, old)
    try:
        os.rename(new, directory)
    except OSError:
        if old is not None:
            os.rename(old, directory)
        raise
