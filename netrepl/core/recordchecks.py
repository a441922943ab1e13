"""`record -e`: the checks a recording makes of what each read got, so a replay checks the replies.

They are written BEFORE the read command: commands share one read cursor, so an
`expect` written after it would look for bytes the command already consumed. The
first line received, through its newline, becomes an `expect` (which consumes whole
lines on replay; `expect -m` for a part of a line); what `recv exactly`, `recv all`
and `recv quiet` got past that line is checked too (its bytes, or its count when
large; `recv all` then `expect eof`). `recv http` reads a whole response, so an
expect of its first line would consume the head it has to read: its check is the
final status it got, written into the command (`recv http 200`).
"""

from __future__ import annotations

from netrepl.language.escapes import expect_text
from netrepl.base.patterns import lazy

EXPECT_MAX = 120  # bytes of received data turned into one `expect` line
EXPECT_REST = 2048  # at most this much more of a `recv all|quiet` becomes one literal `expect`
STREAM_HEAD = EXPECT_MAX + EXPECT_REST  # bytes of a streamed read kept for its checks
_RECV_HTTP = lazy(r"\A[ \t]*recv[ \t]+http(?=[ \t>]|\Z)")  # where the status goes in `recv http [> PATH]`


def read_checks(parsed, data: bytes, total: int) -> tuple[list[str], bool]:
    """The lines that check what a read command got (`data`: its first bytes; `total`: how many
    it got), and whether they replace the command (they consumed all it read)."""
    cut = data.find(b"\n", 0, EXPECT_MAX)
    first = data[:cut + 1] if cut >= 0 else data[:EXPECT_MAX]
    if not first.strip():
        return [], False
    lines = [expect_line(first)]
    name, n = parsed.command.name, parsed.args.get("n")
    rest = total - len(first)  # (`data` may be only the head of what a streamed read got)
    if name in ("recv", "recvfrom") and n not in ("all", "quiet", "exactly"):
        return lines, not rest  # the expect consumed all this recv showed; else the recv reads the rest
    if n == "exactly":
        if rest:
            lines.append(f"recv exactly {rest}")  # the rest of the count (no data: to a file)
        return lines, True
    if name != "recv":
        return lines, False
    if rest and rest <= EXPECT_REST and len(data) == total:
        lines.append(expect_line(data[len(first):]))
    elif rest:
        lines.append(f"recv exactly {rest} > /dev/null")
    if n == "all":
        lines.append("expect eof")
    return lines, True


def with_status(text: str, status: int) -> str:
    """`recv http [> PATH]` as typed -> `recv http STATUS [> PATH]`: the replay checks the status."""
    return _RECV_HTTP.sub(lambda m: f"{m.group()} {status}", text, count=1)


def expect_line(data: bytes) -> str:
    """The `expect` that consumes exactly `data` on replay: a whole line as it is; a part of a
    line with -m (else it would take the rest of the line too, which the next command read)."""
    return ("expect " if data.endswith(b"\n") else "expect -m ") + expect_text(data)
