"""`pyramid <idle_timeout_seconds>`: the long-lived worker BigML's backend drives over stdin.

It prints `pyramid process ready - version X`, then reads one job-document path per line and
answers each job with `pyramid progress - {"progress": 1.0}` and `pyramid job complete -
{result}`. `terminate`, an empty line or the end of input end it with status 0 and no
output; the idle timeout (the wait between jobs) prints an empty line and ends it with status
0. stdout carries only those lines (`pyramid.worker.protocol`).

Nothing a job document holds kills the process: every bad path, document or job is answered
with `{"job_id": ..., "error": "<one line>"}` (job_id null when unknown), the traceback goes
to stderr, and the next line is read. What a job leaves in TensorFlow is taken away before the
next one (`pyramid.worker.cleanup`), so that no job's models, seed or precision reach the next
and memory stays flat.
"""

import sys
import time
import traceback

from pyramid import __version__
from pyramid.commands.line_reader import LineReader
from pyramid.errors import InputError

TERMINATE = "terminate"


def run_job(path, protocol):
    """The result dict of the job whose document is at `path`; an error result when it fails."""
    from pyramid.worker.documents import JobError, job_id_of, job_type_of, read_document
    from pyramid.worker.jobs import JOB_TYPES
    from pyramid.worker.outputs import check_finite
    from pyramid.worker.progress import JobReport
    from pyramid.worker.settings import check_required, progress_id, validate_document

    started = time.monotonic()
    job_id = None
    try:
        document = read_document(path)
        job_id = job_id_of(document)
        job_type = job_type_of(document)
        settings = validate_document(document)
        check_required(settings, job_type, document)
        report = JobReport(protocol, progress_id(settings, job_type), settings.logging_level)
        report.message("pyramid job beginning")
        result = JOB_TYPES[job_type](settings, document, report)
        result["job_time"] = time.monotonic() - started
        check_finite(result, "the job's result")
        return result
    except JobError as error:
        return {"job_id": error.job_id if error.job_id is not None else job_id, "error": str(error)}
    except InputError as error:
        return {"job_id": job_id, "error": str(error)}
    except Exception as error:  # a failure inside a job must not end the worker
        traceback.print_exc(file=sys.stderr)
        first_line = (str(error).splitlines() or [""])[0]
        return {"job_id": job_id, "error": "%s: %s" % (type(error).__name__, first_line)}


def serve(lines, protocol, timeout):
    """Answer job lines until terminate, an empty line, end of input or the idle timeout."""
    while True:
        line = lines.next_line(timeout)
        if line is None and not lines.at_end:
            protocol.line("")  # the idle timeout, as the earlier implementation signalled it
            return 0
        if not line or line == TERMINATE:
            return 0
        from pyramid.worker.cleanup import JobState

        state = JobState()
        protocol.complete(run_job(line, protocol))
        state.reset()


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

    from pyramid.worker.protocol import take_stdout

    protocol = take_stdout()
    import pyramid.worker.jobs  # noqa: F401  (TensorFlow and every job: ready means ready)

    protocol.ready(__version__)
    return serve(LineReader(sys.stdin.fileno()), protocol, timeout)


if __name__ == "__main__":
    sys.exit(main())
