"""`pyramid <idle_timeout_seconds>`: the long-lived worker BigML's backend drives over stdin.

This release speaks the protocol (ready line, one job path per line, progress and
job-complete lines, `terminate`, idle timeout) but runs no job types yet: every job is
answered with an error line saying so. The job types arrive with the worker issue.
"""

import json
import sys

from pyramid import __version__
from pyramid.commands.line_reader import LineReader

READY = "pyramid process ready - version %s" % __version__
PROGRESS = "pyramid progress - "
COMPLETE = "pyramid job complete - "


def run_job(path):
    try:
        with open(path) as stream:
            document = json.load(stream)
    except (OSError, ValueError) as error:
        return {"error": "cannot read job file %s: %s" % (path, error)}
    if not isinstance(document, dict):
        return {"error": "job file %s does not hold a JSON object" % path}
    job_type = document.get("job_type") or "standard_training"
    return {"job_id": document.get("job_id"), "error": "job type %s is not supported yet" % job_type}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[-1] == "--version":
        print("Pyramid %s" % __version__)
        return 0
    try:
        timeout = float(argv[-1])
    except (IndexError, ValueError):
        print("usage: pyramid IDLE_TIMEOUT_SECONDS | pyramid --version", file=sys.stderr)
        return 2

    print(READY, flush=True)
    lines = LineReader(sys.stdin.fileno())
    while True:
        line = lines.next_line(timeout)
        if not line or line == "terminate":
            return 0
        result = run_job(line)
        print(PROGRESS + json.dumps({"progress": 1.0}), flush=True)
        print(COMPLETE + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
