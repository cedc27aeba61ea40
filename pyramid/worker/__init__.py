"""The `pyramid` worker that BigML's backend drives over stdin (see `pyramid.commands.worker`):
the protocol (`protocol.py`), reading job documents (`documents.py`) and the job types
(`jobs.py`)."""
