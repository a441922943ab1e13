"""How the input line is drawn: characters unsafe for a terminal shown as escapes.

prompt_toolkit draws C0/C1 controls as ^X / <9b>, but writes bidi overrides
(U+202E), zero-width and other format characters as they are, so a history
line recalled with Up, or suggested from history, could reorder or hide what
the screen shows. This processor runs after the auto-suggestion is appended,
so the suggestion is escaped too; the buffer's text itself is not changed.
"""

from __future__ import annotations

from prompt_toolkit.formatted_text.utils import fragment_list_to_text
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.layout.utils import explode_text_fragments

from netrepl.render.escape import escape_text, is_terminal_safe


class EscapeUnsafe(Processor):
    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        if is_terminal_safe(fragment_list_to_text(ti.fragments)):
            return Transformation(ti.fragments)  # the common case: nothing to map
        out = []
        to_display = []  # input position -> output position
        to_source = []  # output position -> input position
        for i, fragment in enumerate(explode_text_fragments(ti.fragments)):
            style, char = fragment[0], fragment[1]
            shown = char if is_terminal_safe(char) else escape_text(char)
            if shown != char:
                style += " class:control-character"
            to_display.append(len(to_source))
            to_source.extend([i] * len(shown))
            out.append((style, shown, *fragment[2:]))
        end_in, end_out = len(to_display), len(to_source)

        def source_to_display(i: int) -> int:
            return to_display[i] if i < end_in else end_out + i - end_in

        def display_to_source(i: int) -> int:
            return to_source[i] if i < end_out else end_in + i - end_out

        return Transformation(out, source_to_display, display_to_source)
