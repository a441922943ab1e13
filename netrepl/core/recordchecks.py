"""`record -e`: the checks written for what a read command received.

They are written BEFORE the command (commands share one read cursor: an `expect` written
after it would look for bytes the command already consumed). The first line, through its
newline, becomes an `expect` (expect consumes whole lines, so nothing of the line is left for
the next command; `expect -m` for a part of a line). What a `recv exactly`, `recv all` or
`recv quiet` got after it is checked too: its bytes with one literal `expect` when few
(EXPECT_REST), else its count (`recv exactly N > /dev/null`); a `recv all` then expects end
of stream.
"""

from __future__ import annotations

from netrepl.language.escapes import expect_text

EXPECT_MAX = 120  # bytes of received data turned into one `expect` line
EXPECT_REST = 2048  # at most this much more of a `recv all|quiet` becomes one literal `expect`


def checks_for(parsed, data: bytes, total: int) -> tuple[list[str], bool]:
    """The lines to write before (or instead of) the command that received `data` (`total`
    bytes in all: `data` may be only the head of what a streamed read got), and whether they
    replace the command."""
    cut = data.find(b"\n", 0, EXPECT_MAX)
    first = data[:cut + 1] if cut >= 0 else data[:EXPECT_MAX]
    if not first.strip():
        return [], False
    lines = [expect_line(first)]
    name, n = parsed.command.name, parsed.args.get("n")
    rest = total - len(first)
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


def expect_line(data: bytes) -> str:
    """The `expect` that consumes exactly `data` on replay: a whole line as it is; a part of a
    line with -m (else it would take the rest of the line too, which the next command read)."""
    return ("expect " if data.endswith(b"\n") else "expect -m ") + expect_text(data)
