"""The shell's bottom toolbar: the socket's state (styled per kind of state), endpoints, byte counts."""

from __future__ import annotations

from netrepl.core.executor import Executor
from netrepl.core.session import Session
from netrepl.render.text import endpoint, safe
from netrepl.render.units import human_bytes

# Each kind of state has its own style class (style.py colours them), so that a
# lost connection cannot be taken for a working one at a glance.
STATE_CLASSES = ("connected", "lost", "peer-closed", "closed", "none", "open")


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


def toolbar_text(ex: Executor) -> list[tuple[str, str]]:
    """The bottom toolbar: protocol, state, local -> peer, byte counts."""
    s = ex.session
    parts = [(f"class:bottom-toolbar.state.{state_class(s)}", f" {s.state()} ")]
    if s.local or s.peer:
        local = endpoint(s.local) if s.local else "?"
        peer = endpoint(s.peer) if s.peer else "-"
        parts.append(("class:bottom-toolbar", f" {local} -> {peer} "))
    parts.append(("class:bottom-toolbar", f" sent {human_bytes(s.sent)}  received {human_bytes(s.received)} "))
    if s.listener is not None:
        parts.append(("class:bottom-toolbar", f" listening on {endpoint(s.listener.address)} "))
    if ex.recorder is not None:
        parts.append(("class:bottom-toolbar", f" recording to {ex.recorder.path} "))
    return [(style, safe(text)) for style, text in parts]
