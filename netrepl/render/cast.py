"""A script run as an asciicast v2 recording (`netrepl --cast FILE`), for `asciinema play`.

The file is a JSON header line, then one `[seconds, "o", text]` event a line:
the prompt, each command as if typed at a steady pace (a character or a small
chunk an event), then its output, which is the transcript's own safe text
(peer bytes already escaped) with `\\r\\n` line ends as a terminal shows them.
Each `print` also adds a marker event (`[seconds, "m", label]`), so a player
can jump between a demo's headings. With `stable=True` the clock is virtual
(every typed character and every output a fixed step later), so two runs give
byte-identical files; otherwise outputs come at the real time they were
written, typing adding its own simulated time. A write that fails (disk full)
is remembered in `failed` and nothing more is written: the runner stops there.
"""

from __future__ import annotations

import json
import time

from netrepl.render.escape import escape_text

TYPE_STEP = 0.04  # seconds per typed character (25 a second: a steady typist)
ENTER_STEP = 0.12  # after the last character, before Enter
OUTPUT_STEP = 0.25  # stable clock: an output comes this long after what came before
PROMPT_STEP = 0.5  # stable clock: a pause before each prompt, to read the output
MAX_KEY_EVENTS = 80  # a long command is typed in chunks: at most this many events
HEIGHT = 24
WIDTH = 80


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


class CastWriter:
    """Writes events to `stream` (a text file) as they happen."""

    def __init__(self, stream, width: int = WIDTH, height: int = HEIGHT, stable: bool = False,
                 title: str = "", clock=time.monotonic):
        self.stream = stream
        self.stable = stable
        self.clock = clock
        self.started = clock()
        self.typed = 0.0  # simulated typing time added to the real clock (real mode)
        self.now = 0.0  # the time of the last event: events never go back
        self.failed: str | None = None  # why writing stopped (strerror), if it did
        header: dict = {"version": 2, "width": width, "height": height}
        if not stable:
            header["timestamp"] = int(time.time())
        if title:  # a script's file name: a player decodes the JSON and shows the title raw, so escaped here
            header["title"] = escape_text(title)
        header["env"] = {"TERM": "xterm-256color", "SHELL": "netrepl"}
        self._line(json.dumps(header))

    # -- the clock --

    def _at(self, step: float) -> float:
        """The time of the next event: `step` after the last one on the virtual clock;
        the real time elapsed (plus simulated typing) otherwise."""
        if self.stable:
            self.now = round(self.now + step, 6)
        else:
            self.now = max(self.now, round(self.clock() - self.started + self.typed, 6))
        return self.now

    def _type(self, step: float) -> float:
        """Typing is simulated on both clocks: it adds its step to the time."""
        if not self.stable:
            self.typed += step
        return self._at(step)

    # -- events --

    def _line(self, text: str) -> None:
        if self.failed is not None:
            return
        try:
            self.stream.write(text + "\n")
        except (OSError, ValueError) as exc:
            self.failed = getattr(exc, "strerror", None) or str(exc)

    def _event(self, at: float, code: str, text: str) -> None:
        self._line(f"[{at:.6f}, {json.dumps(code)}, {json.dumps(text, ensure_ascii=False)}]")

    def command(self, text: str, prompt: str = "netrepl> ") -> None:
        """The prompt, then `text` (safe: escaped already) typed, then Enter."""
        self._event(self._at(PROMPT_STEP), "o", prompt)
        size = max(1, -(-len(text) // MAX_KEY_EVENTS))
        for i in range(0, len(text), size):
            self._event(self._type(TYPE_STEP), "o", text[i:i + size])
        self._event(self._type(ENTER_STEP), "o", "\r\n")

    def output(self, text: str) -> None:
        """What the command wrote (safe transcript text), with terminal line ends."""
        if text:
            self._event(self._at(OUTPUT_STEP), "o", _crlf(text))

    def marker(self, label: str) -> None:
        self._event(self._at(0.0), "m", label)

    def flush(self) -> str | None:
        """Write out what is buffered; why the cast cannot be written (None: it can)."""
        if self.failed is None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self.failed = getattr(exc, "strerror", None) or str(exc)
        return self.failed

    def close(self) -> None:
        self.flush()
        try:
            self.stream.close()
        except (OSError, ValueError) as exc:
            if self.failed is None:
                self.failed = getattr(exc, "strerror", None) or str(exc)
