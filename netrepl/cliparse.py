"""What netrepl's command lines share (`netrepl`, `netrepl export`): the argparse parser class
that escapes what it quotes, and the NAME=VALUE word of -D.

A floor below the front ends (these were cli.py's _parser_class and _variable): export/ uses
them for `netrepl export` and imports nothing from the front ends.
"""

from __future__ import annotations

import sys

from netrepl.escape import safe
from netrepl.streams import Notes, Transcript


def variable(text: str) -> tuple[str, str]:
    import argparse

    from netrepl.language.tokens import NAME_RE

    name, sep, value = text.partition("=")
    if not sep or not NAME_RE.match(name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


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
