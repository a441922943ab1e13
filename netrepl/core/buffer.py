"""The receive buffer: ONE read cursor over everything the session received.

Every byte read from the transport is consumed exactly once: by `recv`,
`recv line`, `recv all` or `expect`. Bytes read but not yet consumed (what
`expect` read past its match, what a failed `expect` looked at, the rest of
a line) wait here, and the next read command takes them first. So `expect`
never matches what an earlier command already showed.

While `expect` waits, at most WINDOW bytes are kept (the oldest are
dropped, and counted), whatever the peer sends.
"""

from __future__ import annotations

WINDOW = 1 << 20  # bytes `expect` keeps while it searches (the oldest go first)


class RecvBuffer:
    __slots__ = ("pending", "offset", "dropped")

    def __init__(self) -> None:
        self.pending = bytearray()  # read from the transport, not yet consumed
        self.offset = 0  # stream offset of pending[0]: hex dump offsets of what is consumed next
        self.dropped = 0  # bytes dropped unseen by the window since the last reset_dropped()

    def __len__(self) -> int:
        return len(self.pending)

    def clear(self) -> None:
        self.pending.clear()
        self.offset = self.dropped = 0

    def add(self, data) -> None:
        self.pending += data

    def take(self, size: int | None = None) -> bytes:
        """Consume up to `size` bytes (all if None) from the front."""
        if size is None or size >= len(self.pending):
            data = bytes(self.pending)
            self.pending.clear()
        else:
            data = bytes(self.pending[:size])
            del self.pending[:size]
        self.offset += len(data)
        return data

    def line_end(self, limit: int) -> int | None:
        """Where the first line (through its newline) ends, or `limit` if none within it."""
        at = self.pending.find(b"\n", 0, limit)
        if at >= 0:
            return at + 1
        return limit if len(self.pending) >= limit else None

    def trim(self, window: int = WINDOW) -> int:
        """Keep the newest `window` bytes; returns how many were dropped."""
        extra = len(self.pending) - window
        if extra <= 0:
            return 0
        del self.pending[:extra]
        self.offset += extra
        self.dropped += extra
        return extra
