"""Per-operation timing of a connection, as data: named phases with their durations.

One `Timing` per `connect` command (the session keeps the last one as
`session.timing`): name resolution, each connect attempt per address (so an
IPv6 address that refuses before IPv4 answers shows as two attempts), time to
first byte after each send, the transfer of a long read, and the kernel's RTT
estimate (TCP_INFO, Linux). Nothing here prints or reads the terminal: the
`timing` command returns the record and render/waterfall.py draws it.

Another layer adds its own phase with `timing.add(name, seconds, start=...)`:
the TLS handshake is meant to be `session.timing.add("tls handshake", seconds,
start=t0)` with `t0 = time.perf_counter()` taken before the handshake.
"""

from __future__ import annotations

import select
import socket
import sys
import time

from netrepl.core.results import Elapsed, Endpoint
from netrepl.base.fastdata import field, datatype

# struct tcp_info (linux/tcp.h): tcpi_rtt, in microseconds, is the 16th u32 after 8 u8
# fields: byte offset 8 + 15 * 4 = 68, in the host's byte order (read with int.from_bytes:
# the struct module would be one more import on every run's start-up). 104 bytes is the
# size every Linux since 2.6 returns at least.
TCP_INFO_SIZE = 104
_RTT_OFFSET = 68
# A gap longer than this between one phase's end and the next one's start is time between
# commands (a person typing, a script's `sleep`), not the connection's: it is left out of the
# time axis and only counted (`idle`). Phases of one command follow each other within microseconds.
IDLE_GAP = 0.05
# A connection of a million send/recv pairs would time a million first bytes: the first
# MAX_PHASES phases are kept, the rest only counted (`dropped`), so memory stays bounded.
MAX_PHASES = 200


@datatype(frozen=True)
class Phase:
    """One timed step. `start` is seconds after the timing began; `outcome` is empty
    when it succeeded, else a short word (refused, timeout, an errno name)."""

    name: str
    elapsed: Elapsed
    start: float = 0.0
    target: Endpoint | None = None
    outcome: str = ""
    detail: str = ""


@datatype
class Timing:
    """The phases of one connection, in the order they happened."""

    host: str
    began: float = field(default_factory=time.perf_counter)
    phases: list[Phase] = field(default_factory=list)
    rtt: Elapsed | None = None  # the kernel's smoothed RTT estimate, where available
    waiting: float | None = None  # perf_counter of a send not yet answered by a read
    dropped: int = 0  # phases past MAX_PHASES, counted, not kept
    early: bool = False  # the answer was already waiting when the first read began
    idle: float = 0.0  # seconds between commands left out of the time axis (see IDLE_GAP)
    seen: float | None = None  # perf_counter when the answer was first seen waiting (toolbar, live watch)

    def add(self, name: str, seconds: float, start: float | None = None, target: Endpoint | None = None,
            outcome: str = "", detail: str = "") -> Phase:
        """Append a phase; `start` is a perf_counter() reading (default: it just ended)."""
        begun = (time.perf_counter() - seconds) if start is None else start
        at = max(0.0, begun - self.began - self.idle)
        end = self.total
        if at - end > IDLE_GAP:  # time between commands: not on the axis, counted apart
            self.idle += at - end
            at = end
        phase = Phase(name, Elapsed(seconds), at, target, outcome, detail)
        if len(self.phases) < MAX_PHASES:
            self.phases.append(phase)
        else:
            self.dropped += 1
        return phase

    def sent(self) -> None:
        """A send went out: the next read that returns data is its first byte."""
        if self.waiting is None:
            self.waiting = time.perf_counter()

    def reading(self, sock) -> None:
        """The first read after a send begins. Typed in the shell, it may come long after
        the answer did: then the figure is only an upper bound, and the phase says so."""
        try:
            self.early = bool(select.select([sock], [], [], 0)[0]) or bool(getattr(sock, "pending", int)())
        except (OSError, ValueError, TypeError):
            self.early = False

    def saw_answer(self) -> None:
        """The shell saw the answer waiting (a peek, not a read): a closer bound than the read,
        which may come long after, when the person has typed `recv`."""
        if self.waiting is not None and self.seen is None:
            self.seen = time.perf_counter()

    def received(self, n: int) -> None:
        """A read returned `n` bytes (0: end of stream, which answers the send too)."""
        if self.waiting is not None:
            now = time.perf_counter()
            detail = ""
            if self.seen is not None:  # (TLS: the look decrypted it ahead, so it was not "early")
                now, detail = self.seen, "(at most: seen waiting at the prompt)"
            elif self.early:
                detail = "(at most: already there when read)"
            self.add("first byte" if n else "end of stream", now - self.waiting, start=self.waiting, detail=detail)
            self.waiting = None
            self.seen = None

    def transfer(self, total: int, seconds: float, start: float) -> None:
        """A long read (`recv all`): its duration and rate."""
        self.add("transfer", seconds, start=start, detail=f"{total} bytes{rate_words(total, seconds)}")

    @property
    def total(self) -> float:
        """From the start of the first phase to the end of the last."""
        return max((p.start + p.elapsed.seconds for p in self.phases), default=0.0)


def rate_words(total: int, seconds: float) -> str:
    if seconds <= 0 or total <= 0:
        return ""
    rate = total / seconds
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if rate >= scale:
            return f" at {rate / scale:.1f} {unit}"
    return f" at {rate:.0f} B/s"


def kernel_rtt(sock) -> Elapsed | None:
    """The kernel's smoothed RTT of a TCP socket (TCP_INFO tcpi_rtt); None off Linux,
    on a socket that is not TCP or not connected, or where getsockopt refuses."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None or not sys.platform.startswith("linux"):
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, option, TCP_INFO_SIZE)
    except (OSError, AttributeError, ValueError):  # AttributeError: a wrapped socket without it
        return None
    if len(raw) < _RTT_OFFSET + 4:
        return None
    rtt = int.from_bytes(raw[_RTT_OFFSET:_RTT_OFFSET + 4], sys.byteorder)
    return Elapsed(rtt / 1e6) if rtt else None
