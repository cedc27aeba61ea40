"""Lines from a file descriptor, each waited for at most an idle timeout.

The worker waits for its next job with `select`, which watches the descriptor, not Python's
buffers: after a buffered `readline`, a second line that arrived in the same write would sit
in Python's buffer while `select` waited for more bytes, so a job would be dropped (or
`terminate` unseen) until the idle timeout. This reads the raw descriptor into its own buffer
and only waits when that buffer holds no complete line.
"""

import os
import select
import time

CHUNK = 65536


class LineReader:
    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""
        self.at_end = False

    def next_line(self, timeout):
        """The next line (str, without its newline), or None at end of input or when
        `timeout` seconds pass without a complete line. A last line without a newline counts."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer and not self.at_end:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                return None
            chunk = os.read(self.fd, CHUNK)
            self.buffer += chunk
            self.at_end = not chunk
        if not self.buffer:
            return None
        line, newline, self.buffer = self.buffer.partition(b"\n")
        if not newline:
            self.buffer = b""
        # Only the newline goes: spaces and \r belong to the line (the backend's paths).
        return line.decode("utf-8", errors="replace")
