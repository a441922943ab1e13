"""A relay's events (lab/relay.py RelayEvent) as lines of safe text, for the front ends.

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

from netrepl.render.escape import escape_bytes, hexdump
from netrepl.render.text import safe, size_words

BURST = 4096  # bytes of one direction shown in a row before it is summarised
PROGRESS = 1.0  # seconds between progress lines of a summarised transfer
_WHO = {">": "the client", "<": "the server"}


def _where(addr) -> str:
    if not isinstance(addr, tuple) or len(addr) < 2:
        return "?"
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class RelayView:
    """Turns events into lines; `display` is asked at each chunk (the current `set display`)."""

    def __init__(self, display: Callable[[], str] = lambda: "text", target: str = "", stable: bool = False):
        self.display, self.target, self.stable = display, target, stable
        self._lock = threading.Lock()
        self._shown: dict[tuple[int, str], int] = {}  # (conn, way) -> bytes shown in this burst
        self._quiet_from: dict[tuple[int, str], int] = {}  # (conn, way) -> total when summarising began
        self._last_progress: dict[tuple[int, str], float] = {}

    def _stamp(self, at: float) -> str:
        return "+?.???" if self.stable else f"+{at:.3f}"

    def lines(self, ev) -> list[str]:
        with self._lock:
            return self._lines(ev)

    def _lines(self, ev) -> list[str]:
        head = f"{self._stamp(ev.at)} #{ev.conn}"
        kind = ev.kind
        if kind == "data":
            return self._data(head, ev)
        if kind == "open":
            return [f"{head} open from {_where(ev.peer)}" + (f", relayed to {self.target}" if self.target else "")]
        if kind == "connected":
            return []  # the open line said where to; a refusal has its own line
        if kind == "refused":
            return [safe(f"{head} target {self.target or '?'} failed: {ev.message}; the client was closed")]
        if kind == "eof":
            out = self._summary_end(head, ev.conn, ev.way, ev.total)
            return out + [f"{head} {ev.way} eof ({_WHO[ev.way]} closed its side; passed on as shutdown)"]
        if kind == "reset":
            return [safe(f"{head} {ev.way} reset by {_WHO[ev.way]} ({ev.message}); passed on as a reset")]
        if kind == "close":
            for key in [k for k in self._shown if k[0] == ev.conn]:
                self._shown.pop(key, None)
                self._quiet_from.pop(key, None)
                self._last_progress.pop(key, None)
            return [f"{head} closed: {ev.sent} bytes >, {ev.received} bytes <"
                    + ("" if self.stable else f", {ev.seconds:.3f} s")]
        if kind == "stopped":
            return [f"{self._stamp(ev.at)} relay stopped"]
        return []

    def _data(self, head: str, ev) -> list[str]:
        key = (ev.conn, ev.way)
        other = (ev.conn, "<" if ev.way == ">" else ">")
        out = self._summary_end(head, ev.conn, other[1], None)  # the other side speaks: a new burst
        self._shown[other] = 0
        shown = self._shown.get(key, 0)
        if shown >= BURST:
            if key not in self._quiet_from:
                self._quiet_from[key] = ev.total - len(ev.data)
                self._last_progress[key] = ev.at
                out.append(f"{head} {ev.way} ... more follows: summarised (progress every {PROGRESS:g} s)")
            elif ev.at - self._last_progress[key] >= PROGRESS:
                self._last_progress[key] = ev.at
                out.append(f"{head} {ev.way} ... {size_words(ev.total)} so far")
            return out
        data = ev.data[:BURST - shown]
        self._shown[key] = shown + len(ev.data)
        if self.display() == "hex":
            out.append(f"{head} {ev.way} {len(ev.data)} bytes")
            out += ["    " + row for row in hexdump(data).rstrip("\n").split("\n")]
        else:
            for line in data.splitlines(keepends=True):
                end = "\\r\\n" if line.endswith(b"\r\n") else "\\n" if line.endswith(b"\n") else ""
                body = line[:len(line) - len(end) // 2]
                out.append(f"{head} {ev.way} {escape_bytes(body)}{end}")
        if len(data) < len(ev.data):
            self._quiet_from[key] = ev.total - (len(ev.data) - len(data))
            self._last_progress[key] = ev.at
            out.append(f"{head} {ev.way} ... more follows: summarised (progress every {PROGRESS:g} s)")
        return out

    def _summary_end(self, head: str, conn: int, way: str, total: int | None) -> list[str]:
        """The end of a summarised run of `way`: how much it was."""
        key = (conn, way)
        start = self._quiet_from.pop(key, None)
        self._last_progress.pop(key, None)
        if start is None:
            return []
        if total is None:
            return [f"{head} {way} ... (summarised bytes end here)"]
        return [f"{head} {way} ... {size_words(total - start)} not shown ({total} bytes {way} in all)"]
