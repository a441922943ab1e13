"""A recording file (`record -p`, a relay's `--record`), read line by line within bounds.

`serve replay` (lab/replay.py) and `export --pcap` (export/peertrace.py) both read recordings
so: a line over MAX_LINE is refused naming it, bytes that are not UTF-8 are kept for the
escapes' check to name, and a FIFO with no writer is waited for within a deadline.
"""

from __future__ import annotations

import itertools
import os

MAX_LINE = 4096  # characters of one line (the recorder writes at most ~260)


class ReplayError(ValueError):
    """The recording cannot be replayed: FILE:LINE and why."""


def recording_lines(path: str):
    """Each line as (line number, text without its line end)."""
    from netrepl.core.pathopen import open_within  # a FIFO with no writer: not for ever

    with os.fdopen(open_within(path, os.O_RDONLY), "rb") as f:
        for lineno in itertools.count(1):
            raw = f.readline(MAX_LINE + 2)
            if not raw:
                return
            if len(raw) > MAX_LINE + 1 or (len(raw) == MAX_LINE + 1 and not raw.endswith(b"\n")):
                raise ReplayError(f"{path}:{lineno}: line longer than {MAX_LINE} characters")
            yield lineno, raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
