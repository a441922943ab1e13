"""`serve replay FILE.nrs`: act as the peer a recording (`record -p`) talked to, offline.

The recording's `#<` / `#>` lines (core/peerlog.py) are read into
conversations, one per `#> connect`; each accepted connection plays the next
one (after the last, the first again). A conversation is a list of steps:
the peer's bytes are sent as recorded (a banner first if the peer spoke
first), its end of stream is a FIN (shutdown) and its reset an RST (SO_LINGER
0, then close). Our bytes are read from the client's STREAM until they match
what was recorded, however the client splits or merges its sends; `#> eof`
and the end of the conversation wait for the client's end of stream.

On a mismatch (other bytes, the client closing early, nothing within the
timeout, bytes past the end) the step (numbered in the file), its line, the
byte offset within the step and bounded excerpts of what was expected and
what came are reported (ReplayServer.report: the `serve` listing, the output
of the first command that sees the connection end, the foreground's stderr),
and the client sees the connection close (FIN). A client still open after
every step matched is closed at the timeout without a report.
`#< more N bytes` (not kept by the recorder) is replayed as N NUL bytes;
`#> more N bytes` is read and checked against its SHA-256.

Bounded: the file is read line by line (at most nrs.MAX_BYTES, MAX_LINE
characters a line, MAX_DATA decoded bytes in all); each wait has the
timeout (60 s: a person may be typing the client); what is buffered of the
client is at most what one recv returned.
"""

from __future__ import annotations

import codecs
import collections
import hashlib
import os
import re
import select
import socket
import struct
import threading
import time
from typing import Callable

from netrepl.core.peerlog import DIRECTIVE
from netrepl.lab.handlers import RESET_DELAY, finish
from netrepl.lab.kinds import IDLE_TIMEOUT
from netrepl.lab.recordlines import ReplayError, recording_lines
from netrepl.lab.replaytls import tls_hint, tls_refusal, upgrade_in
from netrepl.lab.server import LabServer
from netrepl.language.escapes import EscapeError, decode_escapes, encode_escapes
from netrepl.language.nrs import MAX_BYTES

MAX_DATA = 64 << 20  # decoded bytes of one recording, in all
MAX_MORE = 1 << 40  # bytes one `more` directive may stand for
REPLAY_TIMEOUT = IDLE_TIMEOUT  # seconds each wait for the client may take (60: a person types the client)
NEWS_KEPT = 16  # reports kept for the next command to show
SHOWN = 24  # bytes of context each side of a mismatch in a report
FILLER = bytes(65536)  # what `#< more N bytes` sends: the bytes themselves were not kept


_DIRECTIVES = {(">", "connect"), ("<", "eof"), ("<", "reset"), (">", "eof"), (">", "close")}


# What decode_escapes accepts, for the fast path of _decode; \0 and \e are rewritten before
# codecs.escape_decode, which reads \0 followed by digits as octal and knows no \e.
# Unrolled (runs of plain characters, each escape between them) so that a line that does not
# match fails in linear time: `(?:[^\\]+|...)*` could split a run of plain characters in
# 2**(n-1) ways and tried each (a 27-character line took 7 s, 60 never ended).
_VALID = re.compile(r"[^\\]*(?:\\(?:x[0-9A-Fa-f]{2}|[rnt0\\e])[^\\]*)*")
_SPECIAL = re.compile(r"\\([\\0e])")
_SPECIAL_AS = {"\\": "\\\\", "0": "\\x00", "e": "\\x1b"}


def _decode(body: str, col: int) -> bytes:
    """decode_escapes, in C for the lines the recorder writes (ASCII, good escapes): a 2 MiB step of
    binary data is 8 MiB of \\xNN, which the general decoder takes seconds over."""
    if body.isascii() and _VALID.fullmatch(body):
        if "\\0" in body or "\\e" in body:
            body = _SPECIAL.sub(lambda m: _SPECIAL_AS[m.group(1)], body)
        return codecs.escape_decode(body.encode("ascii"))[0]
    return decode_escapes(body, col)  # its errors say which escape is bad, and where


class Step:
    __slots__ = ("number", "line", "way", "kind", "data", "more", "sha")

    def __init__(self, number: int, line: int, way: str, kind: str, data: bytes = b""):
        self.number, self.line, self.way, self.kind, self.data = number, line, way, kind, data
        self.more, self.sha = 0, None

    def __repr__(self) -> str:
        return f"Step({self.number}, line {self.line}, {self.way}{self.kind}, {len(self.data)}+{self.more})"


_REDACTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # a `#>` line's secret (relay --redact); data's `$` is \x24


def _filled(body: str, variables, where: str) -> str:
    """A `#>` line with each redacted secret's value (-D NAME=VALUE) written in its place."""
    def value(m):
        if m.group(1) not in variables:
            raise ReplayError(f"{where}: ${m.group(1)} was redacted: give its value with -D {m.group(1)}=VALUE")
        return encode_escapes(variables[m.group(1)].encode("utf-8", "surrogateescape"))
    return _REDACTED.sub(value, body)


def load(path: str, variables=None) -> list[list[Step]]:
    """The conversations of a recording; ReplayError (or OSError) when it cannot be replayed.
    `variables`: the values of secrets a `relay --redact` recording names (`${secret1}`)."""
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise ReplayError(f"{path}: {size} bytes; a recording has at most {MAX_BYTES}")
    conversations: list[list[Step]] = []
    total, number, after_data = 0, 0, False
    # A `tls` line right before a `#> connect`: a recording started on a socket already upgraded
    # (core/recorder.py write_setup writes `tls` and then the connection's `#> connect`).
    upgraded_before: tuple[int, str, str] | None = None
    for lineno, text in recording_lines(path):
        if text[:3] in ("#@ ", "#d "):  # addresses and datagrams (core/peerlog.py), for export --pcap
            continue
        if text[:3] not in ("#< ", "#> "):
            after_data = False  # a command (or any other line) ends a step
            upgrade = upgrade_in(text)
            if conversations and upgrade:
                raise ReplayError(tls_refusal(path, lineno, text, len(conversations), upgrade))
            upgraded_before = (lineno, text, upgrade) if upgrade else None
            continue
        way, body = text[1], text[3:]
        where = f"{path}:{lineno}"
        directive = DIRECTIVE.match(body)
        if directive and (way, body) not in _DIRECTIVES and not directive.group(1):
            raise ReplayError(f"{where}: `{text}` is not a peer line (#> connect, #< eof, #< reset, "
                              "#> eof, #> close)")
        if body == "connect":
            conversations.append([])
            after_data = False
            if upgraded_before is not None:
                raise ReplayError(tls_refusal(path, *upgraded_before[:2], len(conversations), upgraded_before[2]))
            continue
        if not conversations:
            raise ReplayError(f"{where}: a peer line before the first `#> connect`")
        steps = conversations[-1]
        if directive and directive.group(1):  # more N bytes sha256 HEX
            more = int(directive.group(1))
            if more > MAX_MORE:
                raise ReplayError(f"{where}: `more {more} bytes` is over the limit of {MAX_MORE}")
            if not (after_data and steps[-1].way == way):
                number += 1
                steps.append(Step(number, lineno, way, "data"))
            steps[-1].more, steps[-1].sha = more, directive.group(2)
            after_data = False
        elif directive:
            number += 1
            steps.append(Step(number, lineno, way, "eof" if body == "close" else body))
            after_data = False
        else:
            if way == ">" and "${" in body:
                body = _filled(body, variables or {}, where)
            try:
                data = _decode(body, 4)
            except EscapeError as exc:
                raise ReplayError(f"{path}:{lineno}:{exc.col}: {exc.message}") from None
            total += len(data)
            if total > MAX_DATA:
                raise ReplayError(f"{where}: more than {MAX_DATA} bytes of recorded data")
            if after_data and steps[-1].way == way and not steps[-1].more:
                steps[-1].data += data  # a bytearray while loading: += in place, not a copy a line
            else:
                number += 1
                steps.append(Step(number, lineno, way, "data", bytearray(data)))
            after_data = True
    for steps in conversations:
        for step in steps:
            step.data = bytes(step.data)
    if not conversations:
        raise ReplayError(f"{path}: no recorded peer in it (no `#> connect` line; record with `record -p FILE.nrs`)")
    return conversations


def show(data: bytes, lo: int = 0, hi: int | None = None) -> str:
    """data[lo:hi] (at most 2 * SHOWN bytes of it) as a quoted one-line excerpt, escaped (ASCII
    only), with `...` where the bytes go on."""
    hi = min(len(data), lo + 2 * SHOWN if hi is None else hi, lo + 2 * SHOWN)
    if lo >= hi:
        return "nothing"
    return f"{'...' if lo else ''}'{encode_escapes(data[lo:hi])}'{'...' if hi < len(data) else ''}"


class Mismatch(Exception):
    def __init__(self, step: Step, message: str):
        super().__init__(message)
        self.step, self.message = step, message


class Player:
    """One connection playing one conversation."""

    def __init__(self, conn: socket.socket, server: "ReplayServer", steps: list[Step]):
        self.conn, self.server, self.steps = conn, server, steps
        self.pending = bytearray()  # the client's bytes read past the step they ended
        self.client_eof = False

    def play(self) -> None:
        try:
            for step in self.steps:
                if step.way == "<":
                    if not self._peer(step):
                        return
                elif step.kind == "data":
                    self._expect(step)
                else:
                    self._expect_eof(step, "its end of stream (`#> eof`)")
            try:
                self._expect_eof(None, "the end of the recording: its end of stream")
            except Mismatch:
                # No end of stream in time, but every recorded step matched: the client just
                # stays (a shell left open). Not a mismatch: the connection is closed. Extra bytes are.
                if self.pending or self.client_eof:
                    raise
        except Mismatch as exc:
            self.server.report(f"mismatch at step {exc.step.number} (line {exc.step.line}), {exc.message}"
                               if exc.step is not None else f"mismatch after the last step, {exc.message}")
            try:  # the client sees the connection close (FIN), after the report is there to see
                finish(self.conn)
            except OSError:
                pass
            return
        except OSError as exc:  # the client reset the connection, or stop()
            if not self.server.stopping.is_set():
                self.server.report(f"the client's connection failed ({exc.strerror or exc}) while replaying")
            return
        self.server.played += 1

    def _peer(self, step: Step) -> bool:
        """The peer's move; False when the conversation ends here (reset)."""
        conn = self.conn
        if step.kind == "data":
            conn.sendall(step.data)
            left = step.more
            while left > 0:
                n = min(left, len(FILLER))
                conn.sendall(FILLER[:n])
                left -= n
        elif step.kind == "eof":
            conn.shutdown(socket.SHUT_WR)
        elif step.kind == "reset":
            # As the reset kind does: first let the client's connect() return (or the client speak),
            # or an RST right after the handshake makes connect itself fail.
            select.select([conn], [], [], RESET_DELAY)
            # Linger on with a zero timeout: close() then aborts with an RST instead of a FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.played += 1
            return False
        return True

    def _read(self, step: Step | None, deadline: float, wanted: str, have: bytes) -> bytes:
        """More of the client's stream (b"" at its end), within the step's deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Mismatch(step, f"byte {len(have)}: nothing more within {self.server.timeout:g} s: "
                                 f"expected {wanted} got {show(have, max(0, len(have) - SHOWN))}")
        self.conn.settimeout(left)
        try:
            return self.conn.recv(65536)
        except TimeoutError:
            raise Mismatch(step, f"byte {len(have)}: nothing more within {self.server.timeout:g} s: "
                                 f"expected {wanted} got {show(have, max(0, len(have) - SHOWN))}") from None

    def _first(self, step: Step) -> bool:
        """Is this the first of the client's steps (its stream from the start)?"""
        return step is next((s for s in self.steps if s.way == ">" and s.kind == "data"), None)

    def _expect(self, step: Step) -> None:
        """Read until the client's stream holds the step's bytes; Mismatch at the first other byte."""
        want, got = step.data, bytearray()
        deadline = time.monotonic() + self.server.timeout
        while len(got) < len(want):
            if not self.pending:
                chunk = b"" if self.client_eof else self._read(step, deadline, show(want, len(got)), bytes(got))
                if not chunk:
                    self.client_eof = True
                    lo = max(0, len(got) - SHOWN)
                    raise Mismatch(step, f"byte {len(got)}: the client ended its stream: expected "
                                         f"{show(want, lo)} got {show(bytes(got), lo)}")
                self.pending += chunk
            take = min(len(self.pending), len(want) - len(got))
            part = self.pending[:take]
            if part != want[len(got):len(got) + take]:
                at = len(got) + next(i for i in range(take) if part[i] != want[len(got) + i])
                seen = bytes(got) + bytes(self.pending)  # with what came past the step's length
                lo = max(0, at - SHOWN)
                raise Mismatch(step, f"byte {at}: expected {show(want, lo, at + SHOWN)} "
                                     f"got {show(seen, lo, at + SHOWN)}" + tls_hint(self._first(step), want, seen))
            got += part
            del self.pending[:take]
        if step.more:
            self._expect_more(step, deadline)

    def _expect_more(self, step: Step, deadline: float) -> None:
        digest = hashlib.sha256(step.data)
        left = step.more
        while left > 0:
            if not self.pending:
                chunk = b"" if self.client_eof else self._read(step, deadline, f"{left} more bytes", b"")
                if not chunk:
                    self.client_eof = True
                    raise Mismatch(step, f"byte {len(step.data) + step.more - left}: the client ended its "
                                         f"stream {left} bytes before the recorded end")
                self.pending += chunk
            take = min(left, len(self.pending))
            digest.update(self.pending[:take])
            del self.pending[:take]
            left -= take
        if digest.hexdigest() != step.sha:
            raise Mismatch(step, f"bytes 0-{len(step.data) + step.more - 1}: other bytes than recorded "
                                 f"(their SHA-256 is {digest.hexdigest()})")

    def _expect_eof(self, step: Step | None, what: str) -> None:
        deadline = time.monotonic() + self.server.timeout
        while not self.client_eof:
            if self.pending:
                raise Mismatch(step, f"byte 0: expected {what} got {show(bytes(self.pending))} "
                                     f"({len(self.pending)} bytes more than recorded)")
            chunk = self._read(step, deadline, what, b"")
            if not chunk:
                self.client_eof = True
            self.pending += chunk


class ReplayServer(LabServer):
    """A lab server whose connections replay the conversations of one recording."""

    def __init__(self, path: str, host: str = "127.0.0.1", port: int = 0, *, shown: str | None = None,
                 timeout: float = REPLAY_TIMEOUT, on_report: Callable[[str], object] | None = None,
                 variables=None):
        self.path, self.shown = path, shown or path
        self.conversations = load(path, variables)  # ReplayError, OSError: before any bind
        super().__init__("replay", host, port, "tcp", handler=self._serve, idle_timeout=timeout)
        self.timeout = timeout
        self.on_report = on_report
        self.played = 0  # conversations replayed to their end
        self.mismatches = 0
        self.last: str | None = None  # the last report
        self._news: collections.deque[str] = collections.deque(maxlen=NEWS_KEPT)
        self._next = 0
        self._order = threading.Lock()

    def serve_line(self, port: int) -> str:
        """The line `record` writes for this server started before it."""
        return f"serve replay {self.shown} {port}"

    def _serve(self, conn: socket.socket, server) -> None:
        with self._order:
            steps = self.conversations[self._next % len(self.conversations)]
            self._next += 1
        Player(conn, self, steps).play()

    def report(self, message: str) -> None:
        text = f"replay {self.shown}: {message}"
        with self._order:
            self.mismatches += 1
            self.last = text
            self._news.append(text)
        if self.on_report is not None:
            self.on_report(text)

    def news(self) -> list[str]:
        """Reports not shown yet (the executor adds them to the next command's output)."""
        with self._order:
            out = list(self._news)
            self._news.clear()
        return out

    def describe(self) -> str:
        count = len(self.conversations)
        text = f"{super().describe()} from {self.shown}: {count} conversation{'' if count == 1 else 's'}, " \
               f"{self.played} replayed"
        return f"{text}; {self.last}" if self.last else text


def serve(conn: socket.socket, server) -> None:
    """The kinds.py handler: a ReplayServer plays its recording; a plain LabServer has none (closes)."""
    if isinstance(server, ReplayServer):
        server._serve(conn, server)

