"""While a command runs: Ctrl-C raises KeyboardInterrupt on every press, and the terminal does not echo.

Between commands a press finds nothing to stop and is ignored (the prompt
reads Ctrl-C as a key in raw mode anyway). Echo is off while a command runs
so that keys typed ahead do not land in its output; they stay in the
terminal's input queue and the next prompt reads them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

try:
    import termios  # POSIX only
except ImportError:  # pragma: no cover - Windows: no echo control, the rest works
    termios = None


class CtrlC:
    """The shell's SIGINT handler.

    It stays armed for the whole command: prompt_toolkit's output flush has a
    bare `except:` that can swallow a KeyboardInterrupt, and a handler that
    disarmed itself on the first press would then ignore every later one, so a
    streaming `recv all` could no longer be stopped. A press that lands while
    the interruption is being reported raises again; the shell's loop absorbs it.
    """

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, signum, frame) -> None:
        if self.armed:
            raise KeyboardInterrupt

    @contextmanager
    def command(self) -> Iterator[None]:
        """Armed inside the block, disarmed when it ends however it ends."""
        self.armed = True
        try:
            yield
        finally:
            self.armed = False


@contextmanager
def no_echo(fd: int | None) -> Iterator[bool]:
    """Terminal echo off inside the block when `fd` is a terminal (yields whether it did); restored always.

    Only ECHO/ECHONL change: ISIG stays, so Ctrl-C still sends SIGINT, and
    canonical mode stays, so the kernel keeps what is typed for the next prompt.
    """
    saved = None
    if termios is not None and fd is not None:
        try:
            if os.isatty(fd):
                saved = termios.tcgetattr(fd)
                quiet = list(saved)
                quiet[3] &= ~(termios.ECHO | termios.ECHONL)
                termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except (OSError, termios.error):
            saved = None  # no terminal to quiet after all: run as is
    try:
        yield saved is not None
    finally:
        if saved is not None:
            try:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
            except (OSError, termios.error):
                pass  # the terminal is gone (hang-up): nothing to restore
