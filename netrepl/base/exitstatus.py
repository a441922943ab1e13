"""The exit statuses of a batch run (`netrepl FILE.nrs`, `-c`, piped input), one meaning each.

`enum` costs nothing at start-up here: `re`, which every run imports, imports it first.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # every command succeeded (or the run was stopped by `exit` or --step's `q`)
    FAILED = 1  # a command failed (FILE:LINE on stderr), or standard output could not be written
    REJECTED = 2  # the input was rejected as a whole before anything ran: usage, syntax, unreadable, too big
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it): the run stopped there, -k or not

    @classmethod
    def table(cls) -> str:
        """One line for --help."""
        return ("Exit status: 0 every command succeeded, 1 a command failed (or standard output could "
                "not be written), 2 input rejected before anything ran (usage, syntax, unreadable or "
                "too big), 130 interrupted (Ctrl-C).")
