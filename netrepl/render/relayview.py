"""A relay's events (lab/relay.py RelayEvent) as lines, for the front ends.

A line is a tuple of Parts (core/results.py): what changes from run to run (the
time offset, a client's port, a duration) stays typed, so `--stable` masks it;
`text_lines` gives the lines as safe text (the foreground relay).

Each chunk is shown with its time offset, connection number and direction
(`>` client to server, `<` server to client), escaped as any peer bytes are
(render/escape.py), or hex-dumped in the hex display. A bulk transfer is
summarised instead of flooding: once a direction has shown BURST bytes in a
row (the other direction silent), the rest is a progress line at most every
PROGRESS seconds and a total at its end; the other side speaking starts a
new burst.
"""

from __future__ import annotations

import threading
from typing import Callable

from netrepl.core.results import Endpoint, Varies
from netrepl.render.escape import escape_bytes, hexdump
from netrepl.render.text import line_text, safe, size_words

BURST = 4096  # bytes of one direction shown in a row before it is summarised
PROGRESS = 1.0  # seconds between progress lines of a summarised transfer
_WHO = {">": "the client", "<": "the server"}


def _where(addr):
    """A client's address: its port is the OS's choice (masked by --stable)."""
    if not isinstance(addr, tuple) or len(addr) < 2:
        return "?"
    return Endpoint(str(addr[0]), int(addr[1]), True)


class RelayView:
    """Turns events into lines; `display` is asked at each chunk (the current `set display`)."""

    def __init__(self, display: Callable[[], str] = lambda: "text", target="", stable: bool = False):
        # stable: text_lines masks what changes from run to run, as --stable transcripts do
        self.display, self.target, self.stable = display, target, stable
        self._lock = threading.Lock()
        self._shown: dict[tuple[int, str], int] = {}  # (conn, way) -> bytes shown in this burst
        self._quiet_from: dict[tuple[int, str], int] = {}  # (conn, way) -> total when summarising began
        self._last_progress: dict[tuple[int, str], float] = {}
        self._totals: dict[tuple[int, str], int] = {}  # (conn, way) -> bytes that way so far

    def text_lines(self, ev) -> list[str]:
        """The lines of `ev` as safe text."""
        return [line_text(line, self.stable) for line in self.lines(ev)]

    def lines(self, ev) -> list[tuple]:
        with self._lock:
            return [line if isinstance(line, tuple) else (line,) for line in self._lines(ev)]

    def _lines(self, ev) -> list:
        stamp = Varies(f"+{ev.at:.3f}", "+?.???")
        head = f" #{ev.conn}"
        kind = ev.kind
        if kind == "data":
            return self._data(stamp, head, ev)
        if kind == "open":
            return [(stamp, f"{head} open from ", _where(ev.peer), *((", relayed to ", self.target) if self.target else ()))]
        if kind == "connected":
            return []  # the open line said where to; a refusal has its own line
        if kind == "refused":
            return [(stamp, f"{head} target ", self.target or "?", safe(f" failed: {ev.message}; the client was closed"))]
        if kind == "eof":
            out = self._summary_end(stamp, head, ev.conn, ev.way, ev.total)
            return out + [(stamp, f"{head} {ev.way} eof ({_WHO[ev.way]} closed its side; passed on as shutdown)")]
        if kind == "reset":
            return [(stamp, safe(f"{head} {ev.way} reset by {_WHO[ev.way]} ({ev.message}); passed on as a reset"))]
        if kind == "close":
            for key in [k for k in set(self._shown) | set(self._totals) if k[0] == ev.conn]:
                self._shown.pop(key, None)
                self._quiet_from.pop(key, None)
                self._last_progress.pop(key, None)
                self._totals.pop(key, None)
            return [(stamp, f"{head} closed: {ev.sent} bytes >, {ev.received} bytes <, ",
                     Varies(f"{ev.seconds:.3f} s", "?.??? s"))]
        if kind == "stopped":
            return [(stamp, " relay stopped")]
        return []

    def _data(self, stamp, head: str, ev) -> list:
        key = (ev.conn, ev.way)
        self._totals[key] = ev.total
        other = (ev.conn, "<" if ev.way == ">" else ">")
        out = self._summary_end(stamp, head, ev.conn, other[1], None)  # the other side speaks: a new burst
        self._shown[other] = 0
        shown = self._shown.get(key, 0)
        if shown >= BURST:
            if key not in self._quiet_from:
                self._quiet_from[key] = ev.total - len(ev.data)
                self._last_progress[key] = ev.at
                out.append((stamp, f"{head} {ev.way} ... more follows: summarised (progress every {PROGRESS:g} s)"))
            elif ev.at - self._last_progress[key] >= PROGRESS:
                self._last_progress[key] = ev.at
                out.append((stamp, f"{head} {ev.way} ... {size_words(ev.total)} so far"))
            return out
        data = ev.data[:BURST - shown]
        self._shown[key] = shown + len(ev.data)
        if self.display() == "hex":
            out.append((stamp, f"{head} {ev.way} {len(ev.data)} bytes"))
            out += ["    " + row for row in hexdump(data).rstrip("\n").split("\n")]
        else:
            for line in data.splitlines(keepends=True):
                end = "\\r\\n" if line.endswith(b"\r\n") else "\\n" if line.endswith(b"\n") else ""
                body = line[:len(line) - len(end) // 2]
                out.append((stamp, f"{head} {ev.way} {escape_bytes(body)}{end}"))
        if len(data) < len(ev.data):
            self._quiet_from[key] = ev.total - (len(ev.data) - len(data))
            self._last_progress[key] = ev.at
            out.append((stamp, f"{head} {ev.way} ... more follows: summarised (progress every {PROGRESS:g} s)"))
        return out

    def _summary_end(self, stamp, head: str, conn: int, way: str, total: int | None) -> list:
        """The end of a summarised run of `way`: how much it was."""
        key = (conn, way)
        start = self._quiet_from.pop(key, None)
        self._last_progress.pop(key, None)
        total = self._totals.get(key) if total is None else total
        if start is None or total is None:
            return []
        return [(stamp, f"{head} {way} ... {size_words(total - start)} not shown ({total} bytes {way} in all)")]
