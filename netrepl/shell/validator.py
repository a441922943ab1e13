"""Marks a line the parser will reject while it is being typed (ptpython's model).

The message names the column and what is wrong; a line that only lacks its
last words (`connect localhost`) is not marked: it is unfinished, not wrong;
nor is the word being typed at the end of the line (`sett` on its way to
`set`): it is marked once a blank follows it or the cursor moves away.
Enter still runs any line (the shell's Enter binding clears the mark): the
executor then reports the same error, with a caret under the column.
"""

from __future__ import annotations

from typing import Mapping

from prompt_toolkit.validation import ValidationError, Validator

from netrepl.language.parser import ParseError, Parser
from netrepl.render.text import safe


def _being_typed(text: str, cursor: int, at: int) -> bool:
    """Is column `at` (0-based) in the word that ends at the cursor, with nothing typed after it?
    That word is unfinished until a blank follows it or the cursor leaves it."""
    if cursor < len(text) and not text[cursor:].isspace():
        return False  # the cursor is inside the line: what is marked was typed before
    start = cursor
    while start > 0 and text[start - 1] not in " \t":
        start -= 1
    return start <= at <= cursor


class LineValidator(Validator):
    def __init__(self, parser: Parser, variables: Mapping[str, str]):
        self.parser = parser
        self.variables = variables  # the session's own mapping, read live

    def validate(self, document) -> None:
        text = document.text
        try:
            self.parser.parse(text, self.variables)
        except ParseError as exc:
            if exc.col > len(text.rstrip(" \t")):
                return  # something missing at the end: still being typed
            if _being_typed(text, document.cursor_position, exc.col - 1):
                return  # the word under the cursor is not finished ("sett" on its way to "set")
            raise ValidationError(cursor_position=exc.col - 1,
                                  message=safe(f"column {exc.col}: {exc.message}")) from None
