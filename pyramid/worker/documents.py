"""Reading a job document from the path on a protocol line, with one clear line for every
way it can be wrong (the earlier implementation died on most of them)."""

import json

from pyramid.errors import InputError
from pyramid.worker.jobs import JOB_TYPES


class JobError(InputError):
    """A job that cannot run: its `job_id` (None when unknown) and one clear line."""

    def __init__(self, job_id, message):
        super().__init__(message)
        self.job_id = job_id


def read_document(path):
    """The job document (a dict) at `path`, exactly as given (only the newline was taken
    off the line: spaces and \\r are part of the path, as the backend writes it)."""
    shown = json.dumps(path)
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        hint = " (the line has spaces or a carriage return around the path)" if path != path.strip() else ""
        raise JobError(None, "job file %s does not exist%s" % (shown, hint)) from None
    except IsADirectoryError:
        raise JobError(None, "job file %s is a directory, not a JSON file" % shown) from None
    except UnicodeDecodeError as error:
        raise JobError(None, "job file %s is not UTF-8 text: %s" % (shown, error)) from None
    except OSError as error:
        raise JobError(None, "cannot read job file %s: %s" % (shown, error.strerror)) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise JobError(None, "job file %s is not valid JSON: %s at line %d, column %d"
                       % (shown, error.msg, error.lineno, error.colno)) from None
    if not isinstance(document, dict):
        raise JobError(None, "job file %s holds %s, not a JSON object" % (shown, _kind(document)))
    return document


def job_type_of(document):
    """The document's `job_type`, which must be one of JOB_TYPES (a missing one is not taken
    to mean training, as the earlier implementation took it)."""
    job_type = document.get("job_type")
    allowed = ", ".join(sorted(JOB_TYPES))
    if job_type is None:
        raise JobError(job_id_of(document), 'missing required key "job_type"; expected one of %s' % allowed)
    if job_type not in JOB_TYPES:
        raise JobError(job_id_of(document), "job_type: %s is not allowed; expected one of %s"
                       % (json.dumps(job_type), allowed))
    return job_type


def job_id_of(document):
    job_id = document.get("job_id")
    return job_id if isinstance(job_id, (str, int, float)) and not isinstance(job_id, bool) else None


def _kind(value):
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
             type(None): "null"}
    return names.get(type(value), type(value).__name__)
