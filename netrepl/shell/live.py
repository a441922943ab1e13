"""While a prompt waits: the session's sockets watched (STYLE.md item 16).

`Watch.start` runs inside the prompt's event loop (PromptSession.prompt's
pre_run) and puts the session socket and the listener under
`loop.add_reader`; `Watch.stop` takes them off when the prompt returns, so
the watch never races a command for the read cursor. When a socket becomes
readable:
- by default the toolbar is redrawn at once (it counts what waits, peeking);
- with `set live on` (or inside `interact`, which always receives), an
  ordinary `recv` (or `accept`, for a client at the listener) runs through the
  executor, so counters, `record` and `export` see the step it was, and its
  result is shown above the prompt (run_in_terminal).

Readiness is level-triggered: a socket with unread bytes stays readable. So a
descriptor is taken off the watch when it fires and put back only after its
step ran (live) or at the next prompt (toolbar only; the toolbar's own
refresh interval keeps its count current meanwhile).
"""

from __future__ import annotations

import asyncio
from typing import Callable

from prompt_toolkit.application import get_app, run_in_terminal

from netrepl.core.executor import Executor
from netrepl.core.waiting import look


def watched(ex: Executor) -> dict[int, str]:
    """{descriptor: the command that reads it}: the session socket while it can still bring
    data, the listener while no session socket is open (`accept` needs it closed)."""
    s = ex.session
    out: dict[int, str] = {}
    if s.transport is not None and not (s.peer_eof or s.lost or s.rd_shut):
        if s.connected or not s.stream:
            try:
                out[s.transport.sock.fileno()] = "recv" if s.stream or s.connected else "recvfrom"
            except (OSError, ValueError):
                pass
    if s.listener is not None and s.transport is None:
        try:
            out[s.listener.sock.fileno()] = "accept"
        except (OSError, ValueError):
            pass
    return out


class Watch:
    """The watch over one prompt. `run(command)` runs a step and shows it (the shell's);
    `receiving()` says whether to run it (live on, or interact) or only to redraw."""

    def __init__(self, ex: Executor, run: Callable[[str], None], receiving: Callable[[], bool],
                 after: Callable[[], None] | None = None):
        self.ex = ex
        self.run = run
        self.receiving = receiving
        self.after = after  # called in the prompt's loop after each step (interact: end at the peer's close)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.fds: dict[int, str] = {}
        self.busy = False

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.arm()

    def arm(self) -> None:
        """Watch what can be watched now (a step may have closed or opened a socket)."""
        if self.loop is None or self.loop.is_closed():
            return
        self.disarm()
        self.fds = watched(self.ex)
        for fd, command in self.fds.items():
            self.loop.add_reader(fd, self.ready, fd)
            if command != "accept" and self.receiving() and self.held():
                # Already taken in, so the descriptor will not tell: bytes `expect` read past its
                # match, or TLS data decrypted ahead by a look. They are shown as arrived data too.
                self.loop.call_soon(self.ready, fd)

    def disarm(self) -> None:
        if self.loop is not None and not self.loop.is_closed():
            for fd in self.fds:
                self.loop.remove_reader(fd)
        self.fds = {}

    def stop(self) -> None:
        self.disarm()
        self.loop = None

    def ready(self, fd: int) -> None:
        command = self.fds.get(fd)
        self.disarm()  # level-triggered: off until the step ran (or the next prompt)
        app = get_app()
        if command is None or not self.receiving() or self.busy:
            app.invalidate()  # the toolbar peeks and shows what waits
            return
        if command != "accept" and not self.has_data():
            # TLS records that are no data (1.3 session tickets, a key update): a `recv` would wait
            # for data that is not coming. The look took them in; watch again a moment later.
            app.invalidate()
            if self.loop is not None:
                self.loop.call_later(0.1, self.arm)
            return
        self.busy = True
        app.create_background_task(self._step(command))

    def held(self) -> bool:
        """Bytes already in memory for the next `recv` (netrepl's buffer, decrypted TLS)."""
        s = self.ex.session
        sock = s.transport.sock if s.transport is not None else None
        return bool(len(s.buffer) or (sock is not None and getattr(sock, "plain", None)))

    def has_data(self) -> bool:
        """Will a `recv` return at once? Plain sockets: readable says so (data, an end, an error).
        TLS: only decrypted bytes or the end of the stream do (core/waiting.py decrypts ahead)."""
        session = self.ex.session
        transport = session.transport
        if transport is None or getattr(transport.sock, "obj", None) is None:
            return True
        w = look(session)
        return bool(w.ready or w.end)

    async def _step(self, command: str) -> None:
        try:
            await run_in_terminal(lambda: self.run(command))
        finally:
            self.busy = False
            self.arm()
            try:
                if self.after is not None:
                    self.after()
                get_app().invalidate()
            except Exception:  # the prompt has ended meanwhile: nothing to redraw
                pass
