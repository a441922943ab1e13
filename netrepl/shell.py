"""The interactive shell: a thin prompt_toolkit loop over the executor.

Input and output are parameters so tests drive it with a pipe input and
DummyOutput. Ctrl-C cancels the line or interrupts a blocking operation
(the session catches it and stays accurate); Ctrl-D exits and closes.
"""

from __future__ import annotations

import re
import signal
from typing import IO, Iterable, Mapping

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.buffer import ValidationState
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import PygmentsLexer

from netrepl import __version__
from netrepl.commands import REGISTRY
from netrepl.completer import NetreplCompleter
from netrepl.core.executor import Executor
from netrepl.lexer import session_lexer
from netrepl.paths import ensure_private_file, history_path
from netrepl.render.text import endpoint, progress_text, render, safe
from netrepl.style import make_style
from netrepl.validator import LineValidator

_HOST_WORDS = re.compile(r"^\s*(?:must-fail\s+\S+\s+)?(?:connect|sendto|bind)\s+(\S+)")


def toolbar_text(ex: Executor) -> list[tuple[str, str]]:
    """The bottom toolbar: protocol, state, local -> peer, byte counts."""
    s = ex.session
    parts = [("class:bottom-toolbar.state", f" {s.state()} ")]
    if s.local or s.peer:
        local = endpoint(s.local) if s.local else "?"
        peer = endpoint(s.peer) if s.peer else "-"
        parts.append(("class:bottom-toolbar", f" {local} -> {peer} "))
    parts.append(("class:bottom-toolbar", f" sent {s.sent} B  received {s.received} B "))
    if s.listener is not None:
        parts.append(("class:bottom-toolbar", f" listening on {endpoint(s.listener.address)} "))
    if ex.recorder is not None:
        parts.append(("class:bottom-toolbar", f" recording to {ex.recorder.path} "))
    return [(style, safe(text)) for style, text in parts]


class CtrlC:
    """The shell's SIGINT handler: KeyboardInterrupt only while a command runs, once per arming.

    With Python's default handler a second quick Ctrl-C could land while the
    first was being reported, or between two commands, and end the shell with
    its session. Here a press that finds nothing to stop is ignored (the system
    call it interrupted is retried).
    """

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, signum, frame) -> None:
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt


def _enter_runs_any_line() -> KeyBindings:
    """Enter runs the line even when the validator marked it: the executor then
    reports the error with its caret, as for any line (the mark is a warning)."""
    bindings = KeyBindings()

    @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
    def _accept(event) -> None:
        buffer = event.current_buffer
        buffer.validation_error = None
        buffer.validation_state = ValidationState.VALID
        buffer.validate_and_handle()

    return bindings


class Shell:
    def __init__(self, executor: Executor | None = None, history: History | None = None,
                 input=None, output=None, out: IO[str] | None = None):
        self.ex = executor or Executor(REGISTRY)
        if history is None:
            # Not ThreadedHistory: loaded in a thread, it could arrive after an Up pressed right
            # at the first prompt, which then did nothing. Loading in the prompt's first step
            # takes ~15 ms for 20,000 entries and always precedes the first key.
            history = FileHistory(str(ensure_private_file(history_path())))
        self.history = history
        self.style = make_style()
        self.out = out  # a plain text stream (tests); None: print to the terminal with styles
        self.seen_hosts: dict[str, None] = {}
        self.ex.data_writer = self.show_data
        self.ex.progress = self.status  # a long `recv all` says how far it got, on one line
        self.status_shown, self.at_line_start = False, True
        self.ctrl_c = CtrlC()
        self.prompt = PromptSession(
            history=history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=NetreplCompleter(self.ex.registry, self.hosts, self.ex.variables),
            lexer=PygmentsLexer(session_lexer(self.ex.variables)),
            validator=LineValidator(self.ex.parser, self.ex.variables),
            validate_while_typing=True,
            key_bindings=_enter_runs_any_line(),
            style=self.style,
            bottom_toolbar=lambda: toolbar_text(self.ex),
            complete_while_typing=True,
            input=input,
            output=output,
        )

    def hosts(self) -> Iterable[str]:
        """Hosts typed in this session and in the history, newest first."""
        found = dict.fromkeys(reversed(self.seen_hosts))
        # The prompt loads the history in the background when it starts; until then, read it here.
        for line in self.history.get_strings()[::-1] or self.history.load_history_strings():
            m = _HOST_WORDS.match(line)
            if m and "$" not in m.group(1):
                found.setdefault(m.group(1))
        return list(found)

    def show(self, fragments) -> None:
        if self.out is not None:
            self.out.write("".join(text for _, text in fragments))
            self.out.flush()
        else:
            print_formatted_text(FormattedText(fragments), style=self.style, end="",
                                 output=self.prompt.output)

    def show_data(self, text: str) -> None:
        self.clear_status()
        self.show([("class:data", text)])
        self.at_line_start = text.endswith("\n")

    def raw(self, text: str) -> None:
        """Our own cursor controls (prompt_toolkit's write() would escape them)."""
        out = self.out or self.prompt.output
        (out.write if self.out is not None else out.write_raw)(text)
        out.flush()

    def status(self, total: int, seconds: float) -> None:
        """The live '\r' status line of a running command, cleared before its result.
        Not over a line of data still being written: it would erase it."""
        if self.at_line_start:
            self.raw("\r" + safe(progress_text(total, seconds)) + "\x1b[K")
            self.status_shown = True

    def clear_status(self) -> None:
        if self.status_shown:
            self.status_shown = False
            self.raw("\r\x1b[K")

    def one(self) -> bool:
        """Read and run one line; False when the shell should end."""
        try:
            line = self.prompt.prompt([("class:prompt", "netrepl> ")])
        except KeyboardInterrupt:
            return True  # Ctrl-C at the prompt clears the line
        except EOFError:
            return False  # Ctrl-D
        try:
            self.ctrl_c.armed = True
            for step in self.ex.run_line(line):
                self.ctrl_c.armed = True  # the result being shown and the next step can be stopped too
                self.clear_status()
                self.at_line_start = True
                if step.result.error and step.result.error.kind == "interrupted":
                    self.show([("", "\n")])  # the terminal echoed ^C: start a fresh line
                if step.source is not None:  # a command of a `source`d script: echoed as a script run does
                    self.show([("class:prompt", "netrepl> "), ("", safe(step.text) + "\n")])
                self.show(render(step.result, self.ex.session.display))
                m = _HOST_WORDS.match(step.text)
                if m and step.result.ok:
                    self.seen_hosts[m.group(1)] = None
                if step.result.exit:
                    return False
        except KeyboardInterrupt:
            self.show([("class:error", "interrupted\n")])
        except Exception as exc:  # a bug in one command must not end the shell with a traceback
            self.show([("class:error", safe(f"internal error: {type(exc).__name__}: {exc}") + "\n")])
        finally:
            self.ctrl_c.armed = False
        return True

    def run(self) -> int:
        self.show([("", f"netrepl {__version__}: one socket, one command at a time. "
                        "`help` lists the commands; Ctrl-D leaves.\n")])
        try:
            previous = signal.signal(signal.SIGINT, self.ctrl_c)
        except ValueError:  # not the main thread: Python's default handling stays
            previous = None
        try:
            while True:
                try:
                    if not self.one():
                        break
                except KeyboardInterrupt:
                    # A second Ctrl-C while the first was being reported (or between two
                    # steps) lands outside one(): it must not end the shell and its session.
                    continue
        finally:
            self.ex.finish()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return 0


def run_shell(variables: Mapping[str, str] | None = None, **kw) -> int:
    return Shell(Executor(REGISTRY, variables=variables), **kw).run()


__all__ = ["Shell", "run_shell", "toolbar_text", "InMemoryHistory"]
