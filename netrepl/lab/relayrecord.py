"""`relay ... --record FILE.nrs`: what passed through a relay, as one script that is both
a client test and a mock of the server.

Each relayed connection becomes one block, written (and fsync'd) when it ends:

    connect ${host:-HOST} ${port:-PORT}       the target, overridable with -D host=... -D port=...
    #> connect
    send -n GET / HTTP/1.1\\r\\n              the client's bytes, exactly (escaped; a line each)
    #> GET / HTTP/1.1\\r\\n                    ... and as peer lines, for `serve replay`
    expect HTTP/1.1 200 OK\\r\\n              a check of the server's reply: its first whole line
    #< HTTP/1.1 200 OK\\r\\n                   the server's bytes as peer lines (core/peerlog.py format)
    shutdown wr / expect eof / close

`netrepl FILE.nrs` runs it against the real server: the client's bytes go out, and each
reply is checked by what is stable in it: its first line, or only the reply code at its
head when that line holds a date or a time (an SMTP banner), never the headers after it
(an HTTP `Date:`). `serve replay FILE.nrs` reads only the `#<`/`#>` lines (lab/replay.py):
it plays the server's side of each block in order.

Bounded as `record -p` is (core/peerlog.py): a connection keeps at most STEP_KEEP bytes of
a step and TOTAL_KEEP in all (then the count and a SHA-256 go on), so a huge transfer is
a `#< more N bytes sha256 ...` line and not gigabytes of text.
"""

from __future__ import annotations

import os
import re
import threading
import time

from netrepl.core.peerlog import DIRECTIVE, LINE_BYTES, PeerLog, _Data, data_lines
from netrepl.core.redact import find_secrets, lines_of as _lines_of  # (the finder --redact shares with set redact)
from netrepl.language.escapes import encode_escapes, expect_text

SEND_BYTES = 256  # client bytes on one `send -n` line at most (lines stay well under replay's MAX_LINE)
CHECK_BYTES = 120  # bytes of a reply's first line checked at most
# What changes by itself from run to run in a reply line: a time of day, a weekday or month name.
_VARIES = re.compile(rb"\d{1,2}:\d{2}(:\d{2})?|\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
                     rb"Oct|Nov|Dec)\b|\b\d{9,}\b")
_PRINTABLE = re.compile(rb"[\x20-\x7e\t]*(\r?\n)?\Z")
_CODE = re.compile(rb"[+\-*:$]?[A-Za-z0-9/._]{1,16}[ -]")  # `220 `, `250-`, `+OK `, `HTTP/1.1 `, `* `


def reply_check(data: bytes) -> str | None:
    """The text of an `expect` line that checks a reply by what is stable in it, or None
    (binary data, or nothing stable to check)."""
    end = data.find(b"\n")
    first = data[:end + 1] if end >= 0 else data
    if not first.strip() or len(first) > CHECK_BYTES or not _PRINTABLE.match(first):
        return None
    if _VARIES.search(first):
        code = _CODE.match(first)
        return expect_text(code.group()) if code else None
    return expect_text(first)


def send_lines(data: bytes) -> list[str]:
    """`send -n` lines sending exactly `data`: a break after each newline and every SEND_BYTES."""
    out, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start, start + SEND_BYTES)
        end = start + SEND_BYTES if end < 0 else end + 1
        out.append("send -n " + encode_escapes(data[start:end]))
        start = end
    return out


def _where(addr) -> str:
    if not isinstance(addr, tuple) or len(addr) < 2:
        return "?"
    return f"[{addr[0]}]:{addr[1]}" if ":" in str(addr[0]) else f"{addr[0]}:{addr[1]}"


class RelayRecording:
    """A relay listener (Relay.listeners) writing FILE.nrs; `close()` when the relay has stopped."""

    def __init__(self, path: str, target: tuple[str, int], listening: str, redact: bool = False):
        self.path, self.target, self.redact = path, target, redact
        self.secrets: dict[bytes, tuple[str, str]] = {}  # secret -> (variable name, what it is)
        # Written anew, created private: a recording holds what the client said to the server.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.file = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self._lock = threading.Lock()
        self._logs: dict[int, tuple[PeerLog, object]] = {}
        self.written = 0  # connections written
        self.failed: str | None = None  # why the recording stopped early
        host, port = target
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._write([
            f"# netrepl relay recording: {listening} -> {shown}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
            "# A test of the real server: netrepl FILE.nrs (another one: -D host=HOST -D port=PORT).",
            "# A mock of the server: serve replay FILE.nrs [PORT] (or netrepl serve replay FILE.nrs --port PORT).",
            "# Each reply is checked by its first line (by its reply code alone where that line holds a date",
            "# or a time); the #< / #> lines are the bytes that passed, each way, as the mock plays them.",
        ] + (["# Redacted: each secret the client sent (HTTP Authorization and Cookie, SMTP AUTH, IMAP LOGIN,",
              "# POP3/FTP PASS, redis AUTH) is a variable, $secret1 ..., whose value is not stored: give it to",
              "# both with -D secret1=VALUE (netrepl -D ... FILE.nrs; serve replay: the same -D)."] if redact else []))

    def _write(self, lines) -> None:
        for line in lines:
            self.file.write(line + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def __call__(self, ev) -> None:
        """A relay event (lab/relay.py RelayEvent), from the connection's threads."""
        with self._lock:
            if self.file.closed:
                return
            try:
                self._take(ev)
            except (OSError, ValueError) as exc:  # a full disk: the recording ends, the relay goes on
                self.failed = f"recording to {self.path} stopped: {getattr(exc, 'strerror', None) or exc}"
                self._logs.clear()
                try:
                    self.file.close()
                except OSError:
                    pass

    def _take(self, ev) -> None:
        if ev.kind == "open":
            self._logs[ev.conn] = (PeerLog(), ev.peer)
            return
        entry = self._logs.get(ev.conn)
        if entry is None:
            return
        log = entry[0]
        if ev.kind == "data":
            log.data(ev.way, ev.data)
        elif ev.kind == "eof":
            log.directive(ev.way, "eof")
        elif ev.kind == "reset":
            log.directive(ev.way, "reset" if ev.way == "<" else "close")
        elif ev.kind == "refused":
            del self._logs[ev.conn]
            self._write([f"# connection #{ev.conn} from {_where(entry[1])}: the target failed "
                         f"({encode_escapes(ev.message.encode('utf-8', 'replace'))}); nothing relayed"])
        elif ev.kind == "close":
            del self._logs[ev.conn]
            self._write(self._block(ev.conn, entry[1], log))
            self.written += 1

    def _block(self, n: int, peer, log: PeerLog):
        host, port = self.target
        yield ""
        yield f"# connection #{n} from {_where(peer)}"
        yield f"connect ${{host:-{host}}} ${{port:-{port}}}"
        yield "#> connect"
        closed = False
        for step in log.steps:
            if isinstance(step, tuple):
                way, word = step
                if way == ">" and word == "eof":
                    yield "shutdown wr"
                elif way == ">" and word == "close":
                    yield "# the client reset the connection here"
                    yield "close"
                    closed = True
                elif way == "<" and word == "eof":
                    yield "expect eof"
                elif way == "<" and word == "reset":
                    yield "must-fail lost recv all > /dev/null"
                yield f"#{way} {word}"
                if closed:
                    break
                continue
            yield from self._data(step)
        if not closed:
            yield "close"

    def _named(self, kept: bytes) -> list[tuple[int, int, str]]:
        """The secrets in the client's bytes, each with its variable (the same secret, the same name)."""
        spans = []
        for start, end, what in find_secrets(kept):
            value = kept[start:end]
            if value not in self.secrets:
                self.secrets[value] = (f"secret{len(self.secrets) + 1}", what)
            spans.append((start, end, self.secrets[value][0]))
        return spans

    def _redacted(self, kept: bytes, spans):
        """The client's bytes with each secret a variable: the send lines, then the peer lines."""
        for text in _lines_of(kept, spans, SEND_BYTES):
            yield "send -n " + text
        for text in _lines_of(kept, spans, LINE_BYTES):
            yield f"#> \\x{ord(text[0]):02x}{text[1:]}" if DIRECTIVE.match(text) else f"#> {text}"

    def _data(self, step: _Data):
        kept = bytes(step.kept)
        spans = self._named(kept) if self.redact and step.way == ">" else []
        if spans:
            yield from self._redacted(kept, spans)
            if step.hash is not None:
                yield f"# the client sent {step.size - len(kept)} bytes more here, not kept: this test does not send them"
                yield f"#> more {step.size - len(kept)} bytes sha256 {step.hash.hexdigest()}"
            names = dict.fromkeys(name for _, _, name in spans)
            whats = {name: what for name, what in self.secrets.values()}
            yield "# redacted above: " + ", ".join(f"${name} ({whats[name]})" for name in names)
            return
        if step.way == ">":
            yield from send_lines(kept)
            if step.hash is not None:
                yield f"# the client sent {step.size - len(kept)} bytes more here, not kept: this test does not send them"
        else:
            check = reply_check(kept)
            if check is not None:
                yield f"expect {check}"
        for text in data_lines(kept):
            yield f"#{step.way} {text}"
        if step.hash is not None:
            yield f"#{step.way} more {step.size - len(kept)} bytes sha256 {step.hash.hexdigest()}"

    def close(self) -> None:
        with self._lock:
            try:
                for n, (log, peer) in sorted(self._logs.items()):  # still open at the stop: what passed so far
                    if not self.file.closed:
                        self._write(self._block(n, peer, log))
                        self.written += 1
            except OSError as exc:
                self.failed = f"recording to {self.path} stopped: {exc.strerror or exc}"
            self._logs.clear()
            if not self.file.closed:
                try:
                    self.file.close()
                except OSError as exc:
                    self.failed = f"recording to {self.path} stopped: {exc.strerror or exc}"
