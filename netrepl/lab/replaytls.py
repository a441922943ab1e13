"""`serve replay` and TLS: it plays recorded bytes in plaintext, so it cannot answer a handshake.

A recording in which `tls` or `starttls` upgraded a conversation holds the decrypted bytes: a
replay's client would fail mid-handshake, so lab/replay.py refuses the file when it loads,
naming the line (also a recording begun on a socket already upgraded: its `tls` line comes
right before the conversation's `#> connect`). And when a client's first bytes are a TLS
ClientHello where the recording has other bytes (or another ClientHello), the mismatch says so.
"""

from __future__ import annotations

import re

# Commands that turn a recorded conversation into TLS: the peer lines hold the decrypted bytes,
# and the replay (plaintext) could not answer the client's handshake.
_UPGRADES = frozenset({"tls", "starttls"})


def upgrade_in(text: str) -> str | None:
    """The command of a script line that starts TLS on the socket (`tls`, `starttls`, either
    under `must-fail KIND`), or None."""
    words = text.split(None, 3)
    if words and words[0] == "must-fail":
        words = words[2:]
    return words[0] if words and words[0] in _UPGRADES else None


def tls_refusal(path: str, lineno: int, text: str, conversation: int, upgrade: str) -> str:
    return (f"{path}:{lineno}: `{text.strip()[:120]}` turns conversation {conversation} into TLS; "
            f"`serve replay` plays the recorded (decrypted) bytes in plaintext and cannot answer "
            f"the client's handshake, so its `{upgrade}` would fail. Replay a plaintext recording, "
            "or run this one against the real server")


_CLIENT_HELLO = re.compile(rb"\x16\x03[\x00-\x04]..\x01", re.DOTALL)  # a TLS record holding a ClientHello


def tls_hint(first: bool, want: bytes, seen: bytes) -> str:
    """What a mismatch in the client's first bytes means when they are a TLS ClientHello."""
    if not first or not _CLIENT_HELLO.match(seen):
        return ""
    if _CLIENT_HELLO.match(want):
        return (" (a TLS handshake: the client's random bytes differ on every connection, so a recorded "
                "handshake cannot be played to another one)")
    return " (the client began a TLS handshake; the recording is plaintext and `serve replay` speaks no TLS)"
