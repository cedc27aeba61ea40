"""Writing results: final_model.json and friends, each written whole or not at all."""

import json
import os
import tempfile


def write_json(path, document, indent=None):
    """Write `document` to a temporary file beside `path`, then rename it into place, so a
    reader never sees a half-written file and an earlier file survives a failure."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        # json.dumps uses the C encoder; json.dump encodes in Python, several times slower.
        text = json.dumps(document, allow_nan=False, indent=indent)
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def file_mode():
    """What `open` would give a new file (mkstemp's are private, 0600): readable by whoever
    reads the results, such as BigML's backend under another user."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def final_document(result, data, config):
    """The deepnet JSON of the best candidate, in the layout the earlier pyramid wrote."""
    objective = data.objective
    document = dict(result.document)
    document.update(
        {
            "iterations": result.iterations,
            "elapsed_time": result.elapsed,
            "validation_metrics": result.metrics,
            "training_options": config.model_dump(mode="json"),
            "optypes": ["image", objective.name],
            "class_index": 1,
            "weight_index": None,
            "importances": [1.0],
            "evaluation_metrics": None,
            "holdout_images": holdout_images(data, config),
        }
    )
    return document


def holdout_images(data, config):
    """[file, label] of every holdout row, as given in training_data."""
    return [[config.training_data[row].file, config.labels[row]] for row in data.holdout_rows]


def holdout_predictions(result, data, config):
    """pyramid's own predictions for the holdout rows of the best candidate."""
    objective = data.objective
    rows = []
    for row, prediction in zip(data.holdout_rows, result.holdout_predictions):
        rows.append(
            {
                "file": config.training_data[row].file,
                "label": config.labels[row],
                "prediction": objective.prediction_record(prediction),
            }
        )
    return rows


def fit_info(result):
    return {
        "network": result.topology,
        "training_method": result.method,
        "iterations": result.iterations,
        "elapsed_time": result.elapsed,
        "time_budget": result.time_budget,
        "stop_reason": result.stop_reason,
        "validation_metrics": result.metrics,
        "checks": result.checks,
    }
