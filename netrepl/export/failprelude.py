"""The helper functions an exported program may need to fail as netrepl fails, by kind: a
file a step cannot use (FileProblem: kind file) and a step netrepl refuses itself
(StepRefused: kinds state and usage), as source text in prelude.py's table; the
program includes only those it uses.

Both are OSErrors, so `must-fail any` catches them and, uncaught, they end the
program with status 1 as netrepl's run ends; `must-fail io` leaves them alone.
"""

from __future__ import annotations

from netrepl.export.prelude import helper

helper("file_problem", (), (), '''
class FileProblem(OSError):
    """A file a step reads or writes (or a TLS setting's) cannot be used: netrepl's failure kind
    file, no socket's error (`must-fail io` does not catch it; file, any or its errno's name do)."""


def file_problem(exc, what):
    """exc (an OSError, or a ValueError of a TLS setting) as FileProblem: what failed, why, its errno."""
    problem = FileProblem(f"{what}: {getattr(exc, 'strerror', None) or getattr(exc, 'reason', None) or exc}")
    problem.errno = getattr(exc, "errno", None)
    return problem


def file_step(path, step, *args):
    """step(*args): the open of the file at path, or a read or write of it; its OSError is FileProblem."""
    try:
        return step(*args)
    except OSError as exc:
        raise file_problem(exc, path) from None
''')

helper("open_for_writing", ("errno", "os", "time"), (), '''
def open_for_writing(path, timeout):
    """open(path, "wb"), except that a FIFO with no reader is waited for at most timeout seconds,
    as netrepl waits (open() would wait for ever): then it is an ordinary blocking file."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o666)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: a FIFO with no reader (yet)
                raise
            if deadline is not None and time.monotonic() >= deadline:
                raise OSError(errno.ENXIO, f"no reader opened the FIFO within {timeout:g} s") from None
            time.sleep(0.02)
    os.set_blocking(fd, True)
    return open(fd, "wb")
''')

helper("open_for_reading", ("errno", "os", "select", "stat"), (), '''
def open_for_reading(path, timeout):
    """open(path, "rb"), except that a FIFO (or a device) is waited on at most timeout seconds for
    its first bytes, as netrepl waits (open() would wait for a writer for ever)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode) and not select.select([fd], [], [], timeout)[0]:
        os.close(fd)
        raise OSError(errno.ETIMEDOUT, f"no data to read within {timeout:g} s (a FIFO with no writer?)")
    os.set_blocking(fd, True)
    return open(fd, "rb")
''')

helper("file_out", (), ("file_problem", "open_for_writing"), '''
class FileOut:
    """The file at path, opened (before anything is read) to hold received bytes: its errors are
    FileProblem. A FIFO waits for its reader at most timeout seconds."""

    def __init__(self, path, timeout):
        self.path = path
        self.file = file_step(path, open_for_writing, path, timeout)

    def write(self, data):
        file_step(self.path, self.file.write, data)

    def close(self):
        self.file.close()
''')


helper("step_refused", (), (), '''
class StepRefused(OSError):
    """A step netrepl refuses itself, before any socket call, with its failure kind (state or
    usage): no socket's error (`must-fail io` does not catch it; any, state or usage do)."""

    def __init__(self, message, kind="state"):
        super().__init__(message)
        self.kind = kind
''')
