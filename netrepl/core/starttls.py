"""The work of `starttls PROTO`: a protocol's own upgrade steps on the session socket, then the TLS handshake.

smtp (RFC 3207), imap (RFC 9051), pop3 (RFC 2595), ftp (RFC 4217) and
postgres (the SSLRequest): each step goes through the session (send, recv line,
recv), so counters, the read cursor and the state stay true, and each line
exchanged is shown as curl -v shows a dialogue (`> ` what we sent, `< ` what
the server said, escaped). Each server reply has the session timeout in all.
A server that refuses the upgrade (SMTP 454, IMAP NO/BAD, POP3 -ERR, FTP 5xx,
PostgreSQL 'N'), or that does not speak the protocol's dialogue at all (an SSH
banner where an IMAP greeting belongs), is a failure of kind `starttls` quoting
the reply that was not the expected one: no TLS was attempted. Then the same
handshake as `tls` (core/tls.py), NAME and -k as there; bytes the server sent
behind its go-ahead (a STARTTLS injection) are reported and dropped by it.
"""

from __future__ import annotations

import time

from netrepl.core.errors import failure
from netrepl.core.results import Result
from netrepl.core.tls import handshake  # ssl itself is imported only inside the handshake
from netrepl.base.escape import escape_bytes

MAX_REPLY_LINES = 200  # lines of one reply (an EHLO list, untagged IMAP data): more is not a real server
SHOWN = 300  # characters of one received line shown; the rest is counted
# PostgreSQL's SSLRequest: int32 length 8, int32 request code 80877103 (1234 << 16 | 5679).
SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


class Refused(Exception):
    """The dialogue did not reach the go-ahead: a `tls` failure with these words."""


class Dialogue:
    """The exchange so far, as `> ` and `< ` lines in one Result; reads and writes through the session."""

    def __init__(self, session, proto: str):
        self.session, self.proto = session, proto
        self.result = Result()

    def failed(self, outcome: Result) -> Result:
        """A session step failed: its lines and error, after the exchange so far."""
        self.result.lines += outcome.lines
        return self.session._fail(outcome.error, self.result)

    def send(self, text: str, shown: str | None = None) -> Result | None:
        return self.send_bytes(text.encode("ascii") + b"\r\n", shown or text)

    def send_bytes(self, data: bytes, shown: str) -> Result | None:
        outcome = self.session.send(data)
        if not outcome.ok:
            return self.failed(outcome)
        self.result.say(f"> {shown}")
        return None

    def line(self, deadline: float | None) -> tuple[bytes | None, Result | None]:
        """One line from the server within `deadline` (the reply's): (line without its ending, None),
        or (None, the failure)."""
        s = self.session
        saved = s.timeout
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                s.timeout = saved
                return None, self.timed_out(saved)
            s.timeout = left
        try:
            outcome = s.recv_line()
        finally:
            s.timeout = saved
            if s.transport is not None:
                s.transport.settimeout(saved)
        if not outcome.ok:
            if outcome.error.kind == "timeout":
                return None, self.timed_out(saved)
            return None, self.failed(outcome)
        data = outcome.data or b""
        if not data.endswith(b"\n"):
            why = "closed the connection" if s.peer_eof else "sent a line longer than netrepl reads"
            shown = f" after {self.quote(data)}" if data else ""
            return None, self.refused(f"the server {why}{shown} before its answer was complete")
        line = data.rstrip(b"\r\n")
        self.result.say(f"< {self.quote(line)}")
        return line, None

    def reply(self, done, what: str) -> tuple[list[bytes] | None, Result | None]:
        """The lines of one reply, until `done(line)` says it is the last, within one session timeout."""
        s = self.session
        deadline = None if s.timeout is None else time.monotonic() + s.timeout
        lines: list[bytes] = []
        while len(lines) < MAX_REPLY_LINES:
            line, problem = self.line(deadline)
            if problem is not None:
                return None, problem
            lines.append(line)
            if done(line):
                return lines, None
        return None, self.refused(f"{what}: more than {MAX_REPLY_LINES} lines and no end")

    def timed_out(self, timeout: float | None) -> Result:
        err = failure("timeout", f"starttls {self.proto}", f"no complete answer within {timeout:g} s")
        self.result.say(f"the server did not finish its answer within {timeout:g} s; the connection is still open")
        return self.session._fail(err, self.result)

    def refused(self, message: str) -> Result:
        return self.session._fail(failure("starttls", f"starttls {self.proto}", message), self.result)

    @staticmethod
    def quote(data: bytes) -> str:
        """A received line for the terminal: escaped, at most SHOWN characters of it."""
        text = escape_bytes(data).replace("\n", "\\n").replace("\t", "\\t")
        if len(text) > SHOWN:
            return f"{text[:SHOWN]}… ({len(text) - SHOWN} more characters)"
        return text


def _code_reply(line: bytes) -> bool:
    """SMTP/FTP: `250-...` continues, `250 ...` (or a bare `250`) ends."""
    return len(line) < 4 or line[3:4] != b"-"


def _expect_code(d: Dialogue, lines: list[bytes], codes: tuple[bytes, ...], what: str) -> Result | None:
    if lines[-1][:3] not in codes:
        return d.refused(f"{what}: the server answered '{d.quote(lines[-1])}', not {'/'.join(c.decode() for c in codes)}")
    return None


def _helo_name(session) -> str:
    """EHLO's argument: our address as an RFC 5321 address literal (we have no name the server could check)."""
    local = session.local
    host = local.host if local is not None else "127.0.0.1"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


def _smtp(d: Dialogue) -> Result | None:
    lines, problem = d.reply(_code_reply, "the greeting")
    if problem or (problem := _expect_code(d, lines, (b"220",), "the greeting")):
        return problem
    if problem := d.send(f"EHLO {_helo_name(d.session)}"):
        return problem
    lines, problem = d.reply(_code_reply, "the EHLO reply")
    if problem or (problem := _expect_code(d, lines, (b"250",), "EHLO")):
        return problem
    if not any(line[4:].strip().upper().startswith(b"STARTTLS") for line in lines):
        d.result.say("(the EHLO reply does not offer STARTTLS; asking anyway)")
    if problem := d.send("STARTTLS"):
        return problem
    lines, problem = d.reply(_code_reply, "the STARTTLS reply")
    return problem or _expect_code(d, lines, (b"220",), "the server refused STARTTLS")


def _tagged(tag: bytes):
    return lambda line: line.startswith(tag + b" ")


def _imap(d: Dialogue) -> Result | None:
    line, problem = d.line(None if d.session.timeout is None else time.monotonic() + d.session.timeout)
    if problem:
        return problem
    if not line.upper().startswith((b"* OK", b"* PREAUTH")):
        return d.refused(f"the greeting is not `* OK`: '{d.quote(line)}'")
    if problem := d.send("a001 CAPABILITY"):
        return problem
    lines, problem = d.reply(_tagged(b"a001"), "the CAPABILITY reply")
    if problem:
        return problem
    caps = b" ".join(line.upper() for line in lines[:-1] if line.upper().startswith(b"* CAPABILITY"))
    if b" STARTTLS" not in caps:
        d.result.say("(CAPABILITY does not list STARTTLS; asking anyway)")
    if problem := d.send("a002 STARTTLS"):
        return problem
    lines, problem = d.reply(_tagged(b"a002"), "the STARTTLS reply")
    if problem:
        return problem
    if not lines[-1].upper().startswith(b"A002 OK"):
        return d.refused(f"the server refused STARTTLS: '{d.quote(lines[-1])}'")
    return None


def _pop3(d: Dialogue) -> Result | None:
    line, problem = d.line(None if d.session.timeout is None else time.monotonic() + d.session.timeout)
    if problem:
        return problem
    if not line.startswith(b"+OK"):
        return d.refused(f"the greeting is not +OK: '{d.quote(line)}'")
    if problem := d.send("CAPA"):
        return problem
    first, problem = d.line(None if d.session.timeout is None else time.monotonic() + d.session.timeout)
    if problem:
        return problem
    caps: list[bytes] = []
    if first.startswith(b"+OK"):  # a multi-line list ending with "."
        caps, problem = d.reply(lambda line: line == b".", "the CAPA list")
        if problem:
            return problem
    if not any(line.strip().upper() == b"STLS" for line in caps):
        d.result.say("(CAPA does not list STLS; asking anyway)")
    if problem := d.send("STLS"):
        return problem
    line, problem = d.line(None if d.session.timeout is None else time.monotonic() + d.session.timeout)
    if problem:
        return problem
    return None if line.startswith(b"+OK") else d.refused(f"the server refused STLS: '{d.quote(line)}'")


def _ftp(d: Dialogue) -> Result | None:
    lines, problem = d.reply(_code_reply, "the greeting")
    if problem or (problem := _expect_code(d, lines, (b"220",), "the greeting")):
        return problem
    if problem := d.send("AUTH TLS"):
        return problem
    lines, problem = d.reply(_code_reply, "the AUTH TLS reply")
    return problem or _expect_code(d, lines, (b"234",), "the server refused AUTH TLS")


def _postgres(d: Dialogue) -> Result | None:
    if problem := d.send_bytes(SSL_REQUEST, "SSLRequest (8 bytes: " + SSL_REQUEST.hex(" ") + ")"):
        return problem
    outcome = d.session.recv(1)  # one byte only: what follows an 'S' is the server's TLS, never plaintext
    if not outcome.ok:
        return d.failed(outcome)
    answer = outcome.data or b""
    if answer == b"S":
        d.result.say("< S (the server will speak TLS)")
        return None
    if not answer:
        return d.refused("the server closed the connection instead of answering the SSLRequest")
    d.result.say(f"< {d.quote(answer)}")
    if answer == b"N":
        return d.refused("the server refused TLS: it answered 'N' (ssl is off on the server)")
    if answer == b"E":
        return d.refused("the server answered the SSLRequest with an error message ('E': a very old server?)")
    return d.refused(f"the server answered '{d.quote(answer)}', not 'S' or 'N': is it PostgreSQL?")


STEPS = {"smtp": _smtp, "imap": _imap, "pop3": _pop3, "ftp": _ftp, "postgres": _postgres}


def upgrade(session, proto: str, name: str | None, insecure: bool) -> Result:
    """`starttls [-k] PROTO [NAME]`: PROTO's steps, then the handshake of core/tls.py. Never raises."""
    s = session
    if s.transport is None:
        return s._no_socket(f"starttls {proto}")
    if not s.stream or not s.connected:
        return s._fail(failure("state", f"starttls {proto}", "STARTTLS needs a connected TCP socket; "
                                                                "`connect HOST PORT` first"))
    if s.tls is not None:
        return s._fail(failure("state", f"starttls {proto}", "the connection already speaks TLS"))
    d = Dialogue(s, proto)
    problem = STEPS[proto](d)
    if problem is not None:
        return problem
    shaken = handshake(s, name, insecure, s.tls_settings)
    shaken.lines[:0] = d.result.lines
    return shaken
