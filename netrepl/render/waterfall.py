"""A connection's timed phases (core/timing.py) -> a small waterfall, as (style, text) fragments.

Each phase is one row: its label, its duration in ms, and a bar placed on a
shared time axis (start to end of the whole connection), so overlapping and
sequential steps read at a glance. The front end passes the width (the
terminal's) and whether to draw with Unicode blocks; this module never looks
at the terminal itself. Plain ASCII otherwise (`#` bars between `|`), and
`stable=True` masks every figure and bar so transcripts repeat byte for byte.
"""

from __future__ import annotations

from netrepl.core.timing import Phase, Timing
from netrepl.base.escape import safe
from netrepl.render.words import Fragments, endpoint

MIN_TRACK = 10  # fewer columns than this for the bars: labels are shortened first
MIN_LABEL = 12
STABLE_BAR = "<bar>"
_EIGHTHS = " ▏▎▍▌▋▊▉"  # a bar's last partial cell, in eighths, when drawing with Unicode


def ms(seconds: float, stable: bool = False) -> str:
    """A duration in milliseconds, the one unit of the chart."""
    if stable:
        return "<time>"
    if seconds >= 10:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.1f} ms"


def label(phase: Phase, stable: bool = False) -> str:
    """'connect [::1]:8080 refused', 'resolve localhost', 'transfer 356 bytes at 1.2 MB/s'."""
    words = [phase.name]
    if phase.target is not None:
        words.append(endpoint(phase.target, stable))
    if phase.outcome:
        words.append(phase.outcome)
    if phase.detail:
        detail = phase.detail
        if stable and phase.name == "transfer" and " at " in detail:  # the rate varies
            detail = detail.split(" at ")[0] + " at <rate>"
        if stable and detail.startswith("(at most"):  # whether the answer beat the read is a race
            detail = ""
        if detail:
            words.append(detail)
    return safe(" ".join(words))


def bar(start: float, length: float, track: int, fancy: bool) -> str:
    """A bar from `start` covering `length` (both fractions of the axis) in `track` cells."""
    first = min(track - 1, int(start * track))
    if not fancy:
        cells = max(1, min(track - first, round(length * track)))
        return " " * first + "#" * cells + " " * (track - first - cells)
    eighths = max(1, min((track - first) * 8, round(length * track * 8)))
    full, part = divmod(eighths, 8)
    drawn = "█" * full + (_EIGHTHS[part] if part else "")
    return " " * first + drawn + " " * (track - first - len(drawn))


def _fit(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[:max(0, width - 3)] + "..." if width > 3 else text[:width]


def draw(timing: Timing, width: int = 80, fancy: bool = False, stable: bool = False) -> Fragments:
    """The rows of `timing`'s waterfall (the command's result says what it is), each line
    at most `width` columns (down to ~30), then the kernel's RTT estimate."""
    out: Fragments = []
    total = timing.total
    labels = [label(p, stable) for p in timing.phases]
    figures = [ms(p.elapsed.seconds, stable) for p in timing.phases]
    fig_w = max((len(f) for f in figures), default=6)
    edge = ("│", "│") if fancy else ("|", "|")
    # "  LABEL  FIGURE  |TRACK|": what is left for the track after the longest label
    lab_w = max((len(x) for x in labels), default=MIN_LABEL)
    room = width - 2 - 2 - fig_w - 2 - 2
    if room - lab_w < MIN_TRACK:
        lab_w = max(MIN_LABEL, room - MIN_TRACK)
    track = room - lab_w
    for phase, text, figure in zip(timing.phases, labels, figures):
        row = f"  {_fit(text, lab_w):<{lab_w}}  {figure:>{fig_w}}"
        style = "class:bar.failed" if phase.outcome else "class:bar"
        if track < 3:  # too narrow for bars: labels and figures only
            out.append(("class:field", _fit(row, width) + "\n"))
            continue
        if stable:
            drawn = (STABLE_BAR + " " * track)[:track]
        elif total > 0:
            drawn = bar(phase.start / total, phase.elapsed.seconds / total, track, fancy)
        else:
            drawn = bar(0.0, 1.0, track, fancy)
        out += [("class:field", row + "  " + edge[0]), (style, drawn), ("class:field", edge[1] + "\n")]
    if timing.dropped:
        out.append(("class:message", _fit(f"  ... and {timing.dropped} later phase(s), not kept", width) + "\n"))
    if timing.rtt is not None:
        out.append(("class:message", _fit(f"  kernel RTT estimate (TCP_INFO): {ms(timing.rtt.seconds, stable)}",
                                          width) + "\n"))
    return out
