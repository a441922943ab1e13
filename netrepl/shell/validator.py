"""Marks a line the parser will reject while it is being typed (ptpython's model).

The message names the column and what is wrong; a line that only lacks its
last words (`connect localhost`) is not marked: it is unfinished, not wrong.
Enter still runs any line (the shell's Enter binding clears the mark): the
executor then reports the same error, with a caret under the column.
"""

from __future__ import annotations

from typing import Mapping

from prompt_toolkit.validation import ValidationError, Validator

from netrepl.language.parser import ParseError, Parser
from netrepl.render.text import safe


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
            raise ValidationError(cursor_position=exc.col - 1,
                                  message=safe(f"column {exc.col}: {exc.message}")) from None
