"""What a command returns: data, never text written anywhere.

The core builds these; the shell, the script runner and the tests render
them. Values that differ from run to run (ephemeral ports, timings) stay
typed so a renderer can mask them for stable transcripts.
"""

from __future__ import annotations

from netrepl.base.fastdata import field, datatype
from netrepl.base.unixpaths import UnixName  # noqa: F401 (a result part, defined a floor down)


@datatype(frozen=True)
class Endpoint:
    """A socket address. `ephemeral` marks a port the OS chose."""

    host: str
    port: int
    ephemeral: bool = False

    @classmethod
    def of(cls, addr, ephemeral: bool = False) -> "Endpoint | None":
        if not isinstance(addr, tuple) or len(addr) < 2:
            return None
        return cls(str(addr[0]), int(addr[1]), ephemeral)


@datatype(frozen=True)
class Elapsed:
    seconds: float


@datatype(frozen=True)
class Varies:
    """Text that changes from run to run (a certificate's days left, a peer's pid): `--stable`
    output shows `mask` instead."""

    text: str
    mask: str


@datatype(frozen=True)
class ErrorInfo:
    """A failure, by kind (see errors.KINDS), with errno and message."""

    kind: str
    op: str
    message: str
    errno: int | None = None
    errname: str | None = None
    exc: str | None = None


# One line of a message: plain strings and typed values, joined by the renderer.
# (A `|` union, not typing.Union: typing is not imported on the `-c` path.)
Part = str | Endpoint | UnixName | Elapsed | Varies | ErrorInfo | int | float
Line = tuple[Part, ...]


@datatype
class Result:
    lines: list[Line] = field(default_factory=list)
    # Bytes from the peer, untrusted; the renderer escapes or hex-dumps them.
    data: bytes | None = None
    # Received-data offset of `data` in the stream, for hex dump offsets.
    data_offset: int = 0
    error: ErrorInfo | None = None
    # The session state in words after the command ran (None: not shown).
    state: str | None = None
    # Label/value rows (info, serve listing); values are Parts.
    fields: list[tuple[str, Part]] = field(default_factory=list)
    # Plain text blocks that are not peer data (help output).
    text: str | None = None
    exit: bool = False
    # Durations measured while the command ran (core/timing.py Phases), as data.
    phases: list = field(default_factory=list)
    # A connection's phases to draw as a waterfall (core/timing.py Timing; render/waterfall.py).
    waterfall: object | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def say(self, *parts: Part) -> "Result":
        self.lines.append(tuple(parts))
        return self
