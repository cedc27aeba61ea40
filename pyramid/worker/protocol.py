"""The worker's stdout: protocol lines only.

`take_stdout()` moves file descriptor 1 to stderr and returns a writer on the original
stdout, so that whatever else prints (Keras progress bars, TensorFlow's C++ logs, a stray
print) lands on stderr and the backend reads nothing but protocol lines.
"""

import json
import os
import sys

READY = "pyramid process ready - version %s"
PROGRESS = "pyramid progress - "
COMPLETE = "pyramid job complete - "


class Protocol:
    def __init__(self, stream):
        self.stream = stream

    def line(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()

    def ready(self, version):
        self.line(READY % version)

    def progress(self, values):
        self.line(PROGRESS + json.dumps(values))

    def complete(self, result):
        """The two lines that end every job."""
        self.progress({"progress": 1.0})
        self.line(COMPLETE + json.dumps(result))


def take_stdout():
    """A Protocol on the process's stdout, with fd 1 and sys.stdout sent to stderr."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return Protocol(os.fdopen(protocol_fd, "w", encoding="utf-8"))
