"""The shell's bottom toolbar: the socket's state (styled per kind of state), what waits unread,
endpoints, byte counts; fitted to the terminal's width by dropping its least important fields."""

from __future__ import annotations

from prompt_toolkit.utils import get_cwidth

from netrepl.core.executor import Executor
from netrepl.core.session import Session
from netrepl.core.waiting import Waiting, look
from netrepl.render.text import endpoint, safe
from netrepl.render.units import human_bytes

# Each kind of state has its own style class (style.py colours them), so that a
# lost connection cannot be taken for a working one at a glance.
STATE_CLASSES = ("connected", "lost", "peer-closed", "closed", "none", "open")
BAR = "class:bottom-toolbar"


def state_class(s: Session) -> str:
    """The kind of the session's state: one of STATE_CLASSES."""
    if s.sock is None:
        return "closed" if s.was_closed else "none"
    if s.lost or s.connect_failed:
        return "lost"
    if s.peer_eof:
        return "peer-closed"
    if s.connected:
        return "connected"
    return "open"  # created or bound


def waiting_words(w: Waiting) -> str:
    """'63 B waiting', '2.0 KiB waiting, then end of stream', 'reset (ECONNRESET)'; '' when nothing waits."""
    parts = []
    if w.encrypted and w.kernel:
        if w.ready:
            parts.append(f"{human_bytes(w.ready)} waiting")
        parts.append(f"{human_bytes(w.kernel)} of TLS records waiting")  # encrypted: not the size recv shows
    elif w.ready or w.kernel:
        total = w.ready + (w.kernel or 0)
        parts.append(f"a datagram of {human_bytes(total)} waiting" if w.datagram else f"{human_bytes(total)} waiting")
    if w.end:
        parts.append(("then " if parts else "") + w.end)
    if w.clients:
        parts.append("a client waits for `accept`")
    return ", ".join(parts)


def fields(ex: Executor) -> list[tuple[int, str, str]]:
    """(rank, style, text) in display order; rank 0 is kept longest, the highest rank is dropped first."""
    s = ex.session
    w = look(s)  # first: a peek that meets a reset records it, and the state must say so
    out = [(0, f"{BAR}.state.{state_class(s)}", f" {s.state()} ")]
    said = waiting_words(w)
    if said:
        out.append((1, f"{BAR}.waiting", f" {said} "))
    if s.local or s.peer:
        local = endpoint(s.local) if s.local else "?"
        peer = endpoint(s.peer) if s.peer else "-"
        out.append((4, BAR, f" {local} -> {peer} "))
    out.append((3, BAR, f" sent {human_bytes(s.sent)}  received {human_bytes(s.received)} "))
    if s.listener is not None:
        out.append((5, BAR, f" listening on {endpoint(s.listener.address)} "))
    if ex.recorder is not None:
        out.append((6, BAR, f" recording to {ex.recorder.path} "))
    if (w.ready or w.kernel or w.clients) and not s.live:
        out.insert(2, (2, f"{BAR}.hint", " (`set live on` shows it) "))  # right after what waits
    return out


def toolbar_text(ex: Executor, width: int | None = None) -> list[tuple[str, str]]:
    """The bottom toolbar. With `width`, the least important fields are left out until the rest
    fits whole (no field is cut in the middle of a word); the state is always shown."""
    parts = [(rank, style, safe(text)) for rank, style, text in fields(ex)]
    if width is not None:
        while sum(get_cwidth(text) for _, _, text in parts) > width and len(parts) > 1:
            worst = max(range(len(parts)), key=lambda i: parts[i][0])
            del parts[worst]
    return [(style, text) for _, style, text in parts]
