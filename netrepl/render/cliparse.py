"""What netrepl's command lines share (`netrepl`, `netrepl export`): the argparse parser class
that escapes what it quotes (the NAME=VALUE word of -D is language/defines.py's).

In render/ (it was cli.py's _parser_class): export/ uses it for `netrepl export` and may
import render/, never the front ends.
"""

from __future__ import annotations

import sys

from netrepl.base.escape import safe
from netrepl.render.streams import Notes, Transcript


def parser_class():
    import argparse

    class SafeParser(argparse.ArgumentParser):
        """argparse quotes what was typed (an unknown option) as is: escape it."""

        def _print_message(self, message, file=None):
            if not message:
                return
            text = "\n".join(safe(line) for line in message.split("\n"))
            (Transcript(sys.stdout) if file is sys.stdout else Notes(sys.stderr)).write(text)

    return SafeParser
