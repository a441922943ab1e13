"""The interactive shell: a thin prompt_toolkit loop over the executor.

Input and output are parameters so tests drive it with a pipe input and
DummyOutput. Ctrl-C cancels the line or interrupts a blocking operation
(the session catches it and stays accurate); Ctrl-D exits and closes.
A multi-line paste runs line by line, as if typed; keys typed while a
command runs are not echoed into its output but wait for the next prompt.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections import deque
from typing import IO, Iterable, Mapping

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.buffer import ValidationState
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.lexers import PygmentsLexer

from netrepl import __version__
from netrepl.commands import REGISTRY
from netrepl.shell.completer import NetreplCompleter
from netrepl.core.executor import Executor
from netrepl.shell.history import PrivateHistory
from netrepl.shell.inputview import EscapeUnsafe
from netrepl.language.parser import ParseError
from netrepl.shell.interact import Interact
from netrepl.shell.interrupts import CtrlC, no_echo
from netrepl.shell.live import Watch
from netrepl.shell.lexer import session_lexer
from netrepl.shell.paths import history_path
from netrepl.render.text import data_fragments, progress_text, render, safe
from netrepl.shell.style import make_style
from netrepl.shell.toolbar import toolbar_text
from netrepl.shell.validator import LineValidator

_HOST_WORDS = re.compile(r"^\s*(?:must-fail\s+\S+\s+)?(?:connect|sendto|bind)\s+(\S+)")
PROMPT = [("class:prompt", "netrepl> ")]


class Shell:
    def __init__(self, executor: Executor | None = None, history: History | None = None,
                 input=None, output=None, out: IO[str] | None = None):
        self.ex = executor or Executor(REGISTRY)
        # Every command area now, before any key: completion, highlighting and the validator
        # offer all of them, and no area is then imported in the middle of a keystroke.
        self.ex.registry.load_all()
        if history is None:
            # Not ThreadedHistory: loaded in a thread, it could arrive after an Up pressed right
            # at the first prompt, which then did nothing. PrivateHistory reads at most 4 MiB
            # here, before the first prompt, and never blocks on a FIFO or device.
            history = PrivateHistory(history_path())
        self.history = history
        self.style = make_style()
        self.out = out  # a plain text stream (tests); None: print to the terminal with styles
        self.seen_hosts: dict[str, None] = {}
        self.ex.data_writer = self.show_data
        self.ex.progress = self.status  # a long `recv all` says how far it got, on one line
        self.status_shown = False
        self.ctrl_c = CtrlC()
        self.pasted: deque[str] = deque()  # lines of a multi-line paste still to run
        self.pasted_tail = ""  # the paste after its last newline: the next prompt starts with it
        self.at_line_start = True  # what was shown last ended its line
        self.quiet = False  # terminal echo is off: a ^C pressed is not echoed
        self.interrupt_shown = False  # the running command already reported its interruption
        self.watch = Watch(self.ex, self.live_step, lambda: self.ex.session.live)
        self.prompt = PromptSession(
            history=history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=NetreplCompleter(self.ex.registry, self.hosts, self.ex.variables),
            lexer=PygmentsLexer(session_lexer(self.ex.variables)),
            validator=LineValidator(self.ex.parser, self.ex.variables),
            validate_while_typing=True,
            style=self.style,
            bottom_toolbar=self.toolbar,
            # What waits unread is counted while the prompt waits: the watch redraws at once when a
            # socket becomes readable, this refresh keeps the count current after that.
            refresh_interval=0.5,
            complete_while_typing=True,
            key_bindings=self._bindings(),
            input_processors=[EscapeUnsafe()],  # after the suggestion: history text is escaped on screen
            input=input,
            output=output,
        )

    def toolbar(self):
        try:
            width = self.prompt.app.output.get_size().columns
        except Exception:  # no terminal size to fit (a test's output): the whole toolbar
            width = None
        return toolbar_text(self.ex, width)

    def live_step(self, command: str) -> None:
        """`set live on`: what arrived while the prompt waited, received by an ordinary step (the
        watch runs it above the prompt), echoed as a command so the screen says what ran."""
        self.show([("class:prompt", "netrepl> "), ("", command), ("class:live", "  # live: arrived while the prompt waited\n")])
        self.interrupt_shown = False
        try:
            with self.ctrl_c.command():
                self.run_line(command)
        except KeyboardInterrupt:
            if not self.interrupt_shown:
                self.show([("class:error", "interrupted\n")])

    def _bindings(self) -> KeyBindings:
        bindings = KeyBindings()

        @bindings.add(Keys.BracketedPaste, filter=has_focus(DEFAULT_BUFFER))
        def _paste(event) -> None:
            """Pasted lines run one by one, as if typed (prompt_toolkit would make one line of them)."""
            data = event.data.replace("\r\n", "\n").replace("\r", "\n")
            buffer = event.current_buffer
            if "\n" not in data:
                buffer.insert_text(data)
                return
            doc = buffer.document
            lines = (doc.text_before_cursor + data + doc.text_after_cursor).split("\n")
            self.pasted.extend(lines[1:-1])
            self.pasted_tail = lines[-1]
            buffer.text = lines[0]
            buffer.cursor_position = len(lines[0])
            buffer.validate_and_handle()

        @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
        def _accept(event) -> None:
            """Enter runs the line even when the validator marked it: the executor then reports
            the error with its caret, as for any line (the mark is a warning while typing)."""
            buffer = event.current_buffer
            buffer.validation_error = None
            buffer.validation_state = ValidationState.VALID
            buffer.validate_and_handle()

        return bindings

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
        for _, text in reversed(fragments):
            if text:
                self.at_line_start = text.endswith("\n")
                break
        if self.out is not None:
            self.out.write("".join(text for _, text in fragments))
            self.out.flush()
        else:
            print_formatted_text(FormattedText(fragments), style=self.style, end="",
                                 output=self.prompt.output)

    def chart(self, result) -> dict:
        """A waterfall (`timing`) fits the terminal; Unicode bars unless NO_COLOR or not a terminal."""
        if result.waterfall is None:
            return {}
        if self.out is not None:  # tests write to a stream: 80 columns of ASCII
            return {"width": 80, "fancy": False}
        return {"width": shutil.get_terminal_size().columns, "fancy": not os.environ.get("NO_COLOR")}

    def show_data(self, text: str) -> None:
        """Data shown as it arrives (`recv all`, `recv quiet`): styled as a result's data is,
        a CRLF's \\r dim and every other escape bold."""
        self.clear_status()
        self.show(data_fragments(text))

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

    def show_notes(self) -> None:
        """What the history has to say (a file it cannot use, a failed write): each said once, escaped."""
        notes = getattr(self.history, "notes", None)
        for note in notes() if notes else ():
            self.show([("class:error", safe(note) + "\n")])

    def read(self) -> str:
        """The next line: a pasted one still waiting (shown after a prompt, as if typed), or what is typed.

        Not a prompt with accept_default: keys typed meanwhile would be read into that prompt
        before it accepts, and join the pasted line. Here they wait for the next real prompt.
        """
        if self.pasted:
            line = self.pasted.popleft()
            self.show(PROMPT + [("", safe(line) + "\n")])
            strings = self.history.get_strings()
            if line and (not strings or strings[-1] != line):  # as prompt_toolkit stores a typed line
                self.history.append_string(line)
            return line
        tail, self.pasted_tail = self.pasted_tail, ""
        # handle_sigint=False: prompt_toolkit's own SIGINT handler, installed while the prompt
        # starts and ends in cooked mode, queued a Ctrl-C key that a storm of presses could deliver
        # after the prompt had ended, printing a traceback ("Application is not running"). Our
        # handler (disarmed at the prompt) ignores those presses; in raw mode Ctrl-C is a key.
        try:
            return self.prompt.prompt(PROMPT, default=tail, handle_sigint=False, pre_run=self.watch.start)
        finally:
            self.watch.stop()

    def _tty(self) -> int | None:
        try:
            return self.prompt.input.fileno()
        except Exception:  # pipe inputs of tests, inputs without a descriptor: no echo to turn off
            return None

    def one(self) -> bool:
        """Read and run one line; False when the shell should end."""
        try:
            line = self.read()
        except KeyboardInterrupt:
            self.pasted.clear()
            return True  # Ctrl-C at the prompt clears the line
        except EOFError:
            return False  # Ctrl-D
        self.show_notes()
        self.interrupt_shown = False
        try:
            with self.ctrl_c.command():
                return self.run_line(line)
        except KeyboardInterrupt:
            if not self.interrupt_shown:  # a further press while the interruption was being reported: said once
                self.show([("class:error", "interrupted\n")])
            self.drop_paste()
        except Exception as exc:  # a bug in one command must not end the shell with a traceback
            self.show([("class:error", safe(f"internal error: {type(exc).__name__}: {exc}") + "\n")])
        finally:
            self.show_notes()
        return True

    def run_line(self, line: str) -> bool:
        if self.shell_only(line):
            self.ctrl_c.armed = False  # interact arms it around each of its steps, not at its prompt
            Interact(self).run()
            return True
        for step in self.ex.run_line(line):
            self.clear_status()
            if step.result.error and step.result.error.kind == "interrupted":
                # Stopped: nothing runs after a failed step, so what is left is showing this result,
                # which a further press of a storm must not cut off.
                self.ctrl_c.armed = False
                self.interrupt_shown = True
                self.drop_paste()
                if not (self.quiet and self.at_line_start):
                    self.show([("", "\n")])  # the terminal echoed ^C, or data ended mid-line: a fresh line
            if step.source is not None:  # a command of a `source`d script: echoed as a script run does
                self.show([("class:prompt", "netrepl> "), ("", safe(step.text) + "\n")])
            self.show(render(step.result, self.ex.session.display, **self.chart(step.result)))
            m = _HOST_WORDS.match(step.text)
            if m and step.result.ok:
                self.seen_hosts[m.group(1)] = None
            if step.result.exit:
                return False
        return True

    def shell_only(self, line: str) -> bool:
        """Is the line a command the shell runs itself (`interact`: it needs the person)?"""
        try:
            parsed = self.ex.parse(line)
        except ParseError:
            return False  # the executor reports it
        return parsed is not None and bool(parsed.command.shell_only)

    def drop_paste(self) -> None:
        """An interrupted paste stops: the lines after the interrupted one are not run."""
        if self.pasted:
            self.show([("class:error", f"{len(self.pasted)} pasted line(s) not run\n")])
        self.pasted.clear()
        self.pasted_tail = ""

    def loop(self) -> None:
        while True:
            self.ctrl_c.armed = False  # whatever a press did to the last command's end
            try:
                if not self.one():
                    return
            except KeyboardInterrupt:
                # A second Ctrl-C while the first was being reported (or between two
                # steps) lands outside one(): it must not end the shell and its session.
                continue

    def run(self) -> int:
        self.show([("", f"netrepl {__version__}: one socket, one command at a time. "
                        "`help` lists the commands; Ctrl-D leaves.\n")])
        self.show_notes()
        try:
            previous = signal.signal(signal.SIGINT, self.ctrl_c)
        except ValueError:  # not the main thread: Python's default handling stays
            previous = None
        try:
            # Echo off for the whole run, not per command: the prompt (raw mode) draws what is
            # typed anyway, and between a command and the next prompt a late Ctrl-C or typed-ahead
            # key would otherwise be echoed into the screen the prompt then draws over.
            with no_echo(self._tty()) as self.quiet:
                self.loop()
        finally:
            self.ctrl_c.armed = False
            self.ex.finish()
            close = getattr(self.history, "close", None)
            if close is not None:
                close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return 0


def run_shell(variables: Mapping[str, str] | None = None, **kw) -> int:
    return Shell(Executor(REGISTRY, variables=variables), **kw).run()


__all__ = ["Shell", "run_shell"]
