"""Standard output and error for a batch run: a failure to write is a message, never a traceback.

Standard output carries the transcript: when it cannot be written (closed,
full disk, a reader that went away) the run cannot go on, so the write
raises OutputLost, which the command line turns into exit 1. Standard error
only carries notes: when it cannot be written the notes are dropped and the
run goes on (`-k` included).
"""

from __future__ import annotations

import errno
import os

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


class OutputLost(BaseException):
    """Standard output cannot be written. A BaseException, like KeyboardInterrupt,
    so that no command handler's `except Exception` mistakes it for its own failure
    when `recv all` streams data through it."""

    def __init__(self, code: int | None, strerror: str):
        super().__init__(code, strerror)
        self.errno, self.strerror = code, strerror


def _lost(exc: BaseException) -> OutputLost:
    if isinstance(exc, OSError):
        return OutputLost(exc.errno, exc.strerror or str(exc))
    return OutputLost(errno.EBADF, "closed")  # ValueError: I/O operation on closed file


class Transcript:
    """Standard output: write() and flush() raise OutputLost instead of OSError."""

    def __init__(self, stream: IO[str] | None):
        self.stream = stream

    def write(self, text: str) -> None:
        if self.stream is None:  # the interpreter found fd 1 closed at start
            raise OutputLost(errno.EBADF, os.strerror(errno.EBADF))
        try:
            self.stream.write(text)
        except (OSError, ValueError) as exc:
            raise _lost(exc) from None

    def flush(self) -> None:
        if self.stream is None:
            raise OutputLost(errno.EBADF, os.strerror(errno.EBADF))
        try:
            self.stream.flush()
        except (OSError, ValueError) as exc:
            raise _lost(exc) from None


class Notes:
    """Standard error: what cannot be written is dropped; the run goes on."""

    def __init__(self, stream: IO[str] | None):
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                self.stream.write(text)
            except (OSError, ValueError):
                self.stream = None  # closed or full: later notes would fail the same way
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self.stream = None


def silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's own flush at exit of what is
    still buffered cannot fail again (and print "Exception ignored ...")."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


class RawOut:
    """--raw: standard output carries the peer's bytes and nothing else.

    Into a pipe or a file they are written exactly as they came; written in
    full or not at all, so what `recv all` streams here stays in constant
    memory (`write` is also a sink for core/receive.py, given views of its
    buffer). On a terminal the safety rule holds: control characters are
    shown escaped, and standard error says so once. A write that fails ends
    the run (OutputLost), as for the transcript.
    """

    def __init__(self, stream, notes: Notes):
        self.text = stream  # the text stream, flushed before bytes go under it
        self.binary = getattr(stream, "buffer", stream)
        self.notes = notes
        self.escaper = None
        try:
            self.tty = bool(stream is not None and stream.isatty())
        except (OSError, ValueError):
            self.tty = False
        try:  # a real descriptor is written with os.write: no buffer between the socket's bytes and it
            self.fd: int | None = self.binary.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.flushed = False
        # core/sink.py Splicer may move bytes socket -> pipe -> here without Python touching them
        self.spliceable = self.fd is not None and not self.tty
        self.mirror = None  # --cast: shown the same bytes (escaped there); see mirror_to

    def mirror_to(self, mirror) -> None:
        """Also hand every byte to `mirror` (feed(data), end()): --cast records the run as
        it would have read without --raw. Python must see the bytes then, so no splice."""
        self.mirror = mirror
        self.spliceable = False

    def write(self, data) -> None:
        if self.binary is None:
            raise OutputLost(errno.EBADF, os.strerror(errno.EBADF))
        if self.tty:
            self._show(data)
        else:
            try:
                if self.fd is None:
                    self.binary.write(data)
                    self.binary.flush()  # as it arrives: a live conversation is not held back
                else:
                    self._write_fd(data)
            except (OSError, ValueError) as exc:
                raise _lost(exc) from None
        if self.mirror is not None:
            self.mirror.feed(data)

    def drain(self, pipe: int, n: int) -> None:
        """Move the `n` bytes waiting in `pipe` (core/sink.py Splicer's) to standard output."""
        self._flush_text()
        while n:
            if not self.spliceable:
                data = os.read(pipe, n)
                self.write(data)
                n -= len(data)
                continue
            try:
                moved = os.splice(pipe, self.fd, n, flags=os.SPLICE_F_MOVE)
            except BlockingIOError:  # made non-blocking by someone else: wait until it drains
                import select

                select.select([], [self.fd], [])
                continue
            except OSError as exc:
                if exc.errno == errno.EINVAL:  # standard output takes no splice (O_APPEND, some devices)
                    self.spliceable = False
                    continue
                raise _lost(exc) from None
            n -= moved

    def _flush_text(self) -> None:
        """Anything Python still buffers for fd 1 goes first (once: nothing else writes there)."""
        if not self.flushed:
            self.flushed = True
            Transcript(self.text).flush()

    def _write_fd(self, data) -> None:
        self._flush_text()
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:  # a descriptor someone made non-blocking: wait until it drains (Ctrl-C stops it)
                import select  # (rare: not on every start)

                select.select([], [self.fd], [])
                continue
            view = view[n:]

    def _show(self, data) -> None:
        if self.escaper is None:
            from netrepl.base.escape import TextEscaper  # only a terminal needs escaping

            self.escaper = TextEscaper()
            self.notes.write("netrepl: --raw: standard output is a terminal, so the peer's control characters "
                             "are shown escaped (pipe or redirect it for the bytes as they are)\n")
            self.notes.flush()
        text = self.escaper.feed(bytes(data))
        if text:
            Transcript(self.text).write(text)
            Transcript(self.text).flush()

    def end(self) -> None:
        """After each command: a terminal gets what the escaper held back (a split character)."""
        if self.mirror is not None:
            self.mirror.end()
        if self.escaper is not None:
            text = self.escaper.flush()
            if text:
                Transcript(self.text).write(text)
                Transcript(self.text).flush()
