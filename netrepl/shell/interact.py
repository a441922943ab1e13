"""`interact` in the shell: the session handed to the person, as nc (or Expect's interact) does.

Each typed line runs as a `send` step (the line escaped back into send's
syntax, the session's line ending added by `send`); while the line is being
typed, a Watch (shell/live.py) receives what arrives as `recv` steps and
shows its bytes above the line, escaped. So `record`, `export` and the
counters see exactly the steps that happened. Keys:
- Ctrl-] (telnet's escape) returns to the netrepl prompt, which shows the state;
- Ctrl-D half-closes (`shutdown 1`) and says so; what arrives is still shown
  until Ctrl-] or the peer closes;
- Ctrl-C clears the typed line (a send that blocks is interrupted as any command).
When the peer closes (or the connection is lost) the shell's prompt comes back.
"""

from __future__ import annotations

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.key_binding import KeyBindings

from netrepl.commands.interacting import refusal
from netrepl.language.escapes import encode_escapes
from netrepl.paths import interact_history_path
from netrepl.render.text import data_text, render, safe
from netrepl.shell.history import PrivateHistory
from netrepl.shell.inputview import EscapeUnsafe
from netrepl.shell.live import Watch

PROMPT = [("class:prompt.interact", "> ")]
LEAVE = "\x1d"  # what the prompt returns for Ctrl-] (a typed line never holds it: see the binding)
EOL_SHOWN = {b"\r\n": "\\r\\n", b"\n": "\\n", b"": "no line ending"}


def _bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("c-]", eager=True)
    def _leave(event) -> None:
        event.app.exit(result=LEAVE)

    return bindings


class Interact:
    """One `interact`: runs until Ctrl-] or the end of the connection. `shell` is the Shell
    (its executor, its show(), its terminal input and output, its Ctrl-C handler)."""

    def __init__(self, shell, history=None):
        self.shell = shell
        self.ex = shell.ex
        self.history = history
        self.watch = Watch(self.ex, self.received, lambda: True, after=self.check_end)
        self.peer_closed_before = False

    def make_prompt(self) -> PromptSession:
        if self.history is None:
            self.history = PrivateHistory(interact_history_path())
        return PromptSession(history=self.history, key_bindings=_bindings(), style=self.shell.style,
                             bottom_toolbar=self.shell.toolbar, refresh_interval=0.5,
                             input_processors=[EscapeUnsafe()], enable_history_search=False,
                             input=self.shell.prompt.input, output=self.shell.prompt.output)

    def ended(self) -> bool:
        """No more to say or hear: the connection is gone, the peer closed while we talked, or a
        peer that had closed before `interact` now has our end of stream too."""
        s = self.ex.session
        if s.transport is None or s.lost:
            return True
        return s.peer_eof and (s.wr_shut or not self.peer_closed_before)

    def check_end(self) -> None:
        """After a received step: the peer closed (or the connection is lost): the prompt returns."""
        if self.ended():
            get_app().exit(result=LEAVE)

    def run(self) -> None:
        refused = refusal(self.ex)
        if refused is not None:
            self.shell.show(render(refused))
            return
        s = self.ex.session
        sent, received = s.sent, s.received
        self.peer_closed_before = s.peer_eof  # it may still read: typing goes on until Ctrl-D or Ctrl-]
        self.shell.show([("class:live", safe(
            f"interact: each line is sent with {EOL_SHOWN.get(s.eol, 'the line ending')} (`set eol`); what "
            "arrives is shown as it comes. Ctrl-] returns to netrepl, Ctrl-D half-closes (shutdown 1).") + "\n")])
        prompt = self.make_prompt()
        self.show_notes()
        try:
            while not self.ended():
                line = self.read(prompt)
                if line == LEAVE:
                    break
                if line is not None:
                    self.send(line)
        finally:
            self.show_notes()
            close = getattr(self.history, "close", None)
            if close is not None:
                close()
        s = self.ex.session
        why = "the peer closed" if s.peer_eof else f"the connection was lost ({s.lost})" if s.lost else "Ctrl-]"
        self.shell.show([("class:live", safe(
            f"back at the netrepl prompt ({why}): sent {s.sent - sent} and received {s.received - received} bytes "
            f"during interact") + "  "), ("class:state", safe(f"[{s.state()}]") + "\n")])

    def show_notes(self) -> None:
        """What the typed lines' history has to say (a file it cannot use), escaped."""
        notes = getattr(self.history, "notes", None)
        for note in notes() if notes else ():
            self.shell.show([("class:error", safe(note) + "\n")])

    def read(self, prompt: PromptSession) -> str | None:
        """A typed line, LEAVE, or None (Ctrl-C, Ctrl-D: handled here)."""
        try:
            return prompt.prompt(PROMPT, handle_sigint=False, pre_run=self.watch.start)
        except EOFError:  # Ctrl-D
            self.half_close()
        except KeyboardInterrupt:
            self.shell.show([("class:live", "(line cleared; Ctrl-] returns to the netrepl prompt)\n")])
        finally:
            self.watch.stop()
        return None

    def half_close(self) -> None:
        s = self.ex.session
        if s.wr_shut:
            self.shell.show([("class:live", "the write side is already shut; Ctrl-] returns to the netrepl "
                                            "prompt\n")])
            return
        self.step("shutdown 1", quiet=False)
        if s.wr_shut:
            self.shell.show([("class:live", "half-closed: the peer reads an end of stream; what it still "
                                            "sends is shown until it closes or Ctrl-]\n")])

    def send(self, typed: str) -> None:
        """Each line of what was typed (a paste may hold several) is one `send` with the line ending."""
        for line in typed.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            s = self.ex.session
            if s.wr_shut or s.lost or s.transport is None:
                self.shell.show([("class:error", "not sent: the write side is shut; Ctrl-] returns\n")]
                                if s.wr_shut else [])
                return
            self.step("send " + encode_escapes(line.encode("utf-8", "surrogateescape")) if line else "send",
                      quiet=True)

    def received(self, command: str) -> None:
        """The watch's step: what arrived, shown as its bytes (escaped) like nc shows them."""
        self.step(command, quiet=True)

    def step(self, command: str, quiet: bool) -> None:
        """Run one step through the executor; `quiet`: a success shows only its data."""
        shell = self.shell
        try:
            with shell.ctrl_c.command():
                for step in self.ex.run_line(command):
                    result = step.result
                    if quiet and result.ok and result.data:
                        shell.show([("class:data", data_text(result.data, self.ex.session.display,
                                                             result.data_offset))])
                    elif not (quiet and result.ok and not result.data and command.startswith("send")):
                        shell.show(render(result, self.ex.session.display))
        except KeyboardInterrupt:
            shell.show([("class:error", "interrupted\n")])
