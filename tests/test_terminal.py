"""The real shell (`python -m netrepl`) in a real pseudo-terminal, driven through tmux.

Each test gets its own tmux server (private socket, 120x40, TERM=xterm-256color,
history in tmp_path) which is killed afterwards. What is checked is what a
person sees: tmux renders the program's output like a terminal, and
capture-pane returns the screen. Every wait polls with a deadline.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import stat
import sys
import threading
import time

import pytest

from conftest import ROOT
from termdrive import PROMPT, Term, TermTimeout, style_of, styled_runs, unavailable

termios = pytest.importorskip("termios")  # POSIX terminals only, as every test here

INTERRUPT_BOUND = 3.0  # the issue asks for "within a second"; bounded generously for loaded machines


@pytest.fixture
def shell(tmp_path):
    """start(histfile=None) -> a Term running the shell, already showing its prompt."""
    why = unavailable()
    if why:
        pytest.skip(why)
    terms: list[Term] = []

    def start(histfile=None) -> Term:
        env = dict(os.environ, TERM="xterm-256color",
                   NETREPL_HISTFILE=str(histfile or tmp_path / "history"))
        env.pop("PYTHONWARNINGS", None)
        try:
            term = Term([sys.executable, "-m", "netrepl"], env, ROOT)
        except RuntimeError as exc:
            if not terms:
                pytest.skip(f"tmux cannot start a session here: {exc}")
            raise
        terms.append(term)
        term.wait_prompt()
        return term

    yield start
    for term in terms:
        term.close()


class Peer:
    """A loopback TCP peer the test controls: it sends `first` on connect, then
    each time `release()` is called sends `later`; it records the end of stream it sees."""

    def __init__(self, first: bytes = b"", later: bytes = b""):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.first, self.later = first, later
        self.accepted = threading.Event()
        self.go = threading.Semaphore(0)
        self.eof = threading.Event()
        self.conn: socket.socket | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            self.conn, _ = self.listener.accept()
        except OSError:
            return
        self.accepted.set()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.conn.sendall(self.first)
            while self.go.acquire():
                self.conn.sendall(self.later)
        except OSError:
            pass

    def _read(self):
        try:
            while self.conn.recv(4096):
                pass
        except OSError:
            pass
        self.eof.set()

    def release(self):
        self.go.release()

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes an accept() still waiting
        except OSError:
            pass
        self.listener.close()
        if self.conn is not None:
            self.conn.close()
        self.go.release()


@pytest.fixture
def peer():
    peers = []

    def start(first=b"", later=b""):
        p = Peer(first, later)
        peers.append(p)
        return p

    yield start
    for p in peers:
        p.close()


def toolbar(term: Term) -> str:
    """The bottom toolbar: the last non-blank line of the screen."""
    return [line for line in term.lines() if line.strip()][-1]


def wait_toolbar(term: Term, *words: str) -> str:
    """The toolbar once it shows all `words` (it is drawn once the terminal told its cursor position)."""
    def shows():
        bar = toolbar(term)
        return bar if all(word in bar for word in words) else None

    return term.wait(shows, f"the toolbar to show {words}")


def output_after(screen: str, command: str) -> str:
    """What the screen shows after the last prompt line holding `command`."""
    lines = screen.split("\n")
    at = max(i for i, line in enumerate(lines) if line.rstrip() == (PROMPT + command).rstrip())
    return "\n".join(lines[at + 1:])


# ----- the prompt and completion -------------------------------------------------


def test_the_prompt_appears_after_the_banner(shell):
    term = shell()
    lines = term.lines()
    assert lines[0].startswith("netrepl ") and "Ctrl-D leaves" in lines[0]
    assert term.at_prompt()
    wait_toolbar(term, "no socket", "sent 0 B")


def test_tab_completes_a_command_then_an_argument_and_ctrl_c_clears_the_line(shell):
    term = shell()
    term.type("conn")
    term.wait_prompt("conn")
    term.keys("Tab")
    term.wait(lambda: term.cursor_line().startswith(PROMPT + "connect"), "conn<Tab> -> connect")

    term.keys("C-c")  # at the prompt: drops the line, the shell goes on
    term.wait_prompt()

    term.type("socket in")
    term.wait_prompt("socket in")
    term.keys("Tab")
    term.wait(lambda: term.cursor_line().rstrip() == PROMPT + "socket inet", "socket in<Tab> -> socket inet")
    _, y = term.cursor()
    menu = term.lines()[y + 1:y + 3]
    assert [entry.split()[0] for entry in menu] == ["inet", "inet6"], menu
    term.keys("Tab")  # the next choice
    term.wait(lambda: term.cursor_line().rstrip() == PROMPT + "socket inet6", "second Tab -> socket inet6")
    term.keys("BTab")  # Shift-Tab: back to the first (IPv6 may be off on the machine)
    term.wait(lambda: term.cursor_line().rstrip() == PROMPT + "socket inet", "Shift-Tab -> socket inet")
    term.keys("Enter")
    screen = term.wait_text("created inet tcp socket")
    assert "error" not in output_after(screen, "socket inet")


# ----- Ctrl-C during blocking operations ------------------------------------------

# (what to set first, the blocking command, the system calls it blocks in)
BLOCKING = [
    pytest.param("timeout none", "recv", ("recvfrom",), id="recv-no-timeout"),
    pytest.param(None, "recv", ("poll", "ppoll"), id="recv-default-timeout"),
    pytest.param("timeout none", "recv line", ("recvfrom",), id="recv-line"),
    pytest.param("timeout none", "recv all", ("recvfrom",), id="recv-all"),
    pytest.param("timeout none", 'expect "never sent"', ("recvfrom",), id="expect"),
    pytest.param(None, "sleep 600", ("clock_nanosleep",), id="sleep"),
]


@pytest.mark.parametrize("setting, command, calls", BLOCKING)
def test_ctrl_c_interrupts_a_blocking_operation_and_the_session_stays(shell, peer, setting, command, calls,
                                                                       record_property):
    p = peer(later=b"after-the-interrupt\n")
    term = shell()
    term.run(f"connect 127.0.0.1 {p.port}")
    assert p.accepted.wait(10)
    if setting:
        term.run(setting)
    before = term.prompts()
    term.type(command)
    term.wait_prompt(command)
    term.keys("Enter")
    term.wait_blocked(*calls)  # really blocked in the socket call, with Ctrl-C armed

    started = time.monotonic()
    term.keys("C-c")
    term.wait(lambda: term.prompts() > before and term.at_prompt(), "the prompt after Ctrl-C",
              timeout=INTERRUPT_BOUND)
    took = time.monotonic() - started
    record_property("ctrl_c_to_prompt_s", round(took, 3))
    print(f"Ctrl-C during {command!r}: prompt back after {took * 1000:.0f} ms")

    shown = output_after(term.screen(), command)
    op = command.split()[0]
    assert re.search(rf"error: {op}\b.*interrupted", shown), shown  # reported by the operation itself
    assert "Traceback" not in term.screen(scrollback=True)

    info = output_after(term.run("info"), "info")
    assert re.search(r"state\s+tcp connected", info), info
    assert re.search(rf"peer\s+127\.0\.0\.1:{p.port}\b", info), info
    assert not p.eof.is_set()

    p.release()  # the same connection still carries data
    shown = output_after(term.run("recv line"), "recv line")
    assert "after-the-interrupt" in shown, shown


def test_a_storm_of_ctrl_c_never_ends_the_shell_or_its_session(shell, peer):
    # People press Ctrl-C several times. Whatever moment each one lands in (the
    # blocking call, printing its result, printing "interrupted", between two
    # commands, the next prompt starting), the shell and its connection stay.
    p = peer(later=b"still-here\n")
    term = shell()
    term.run(f"connect 127.0.0.1 {p.port}")
    term.run("timeout none")
    presses = 0
    for i in range(12):
        command = "recv" if i % 2 else "sleep 600"
        term.wait_reading_keys()  # typed earlier, it would be echoed by the terminal, not drawn by the prompt
        term.type(command)
        term.wait_prompt(command)
        term.keys("Enter")
        term.wait_blocked("recvfrom" if command == "recv" else "clock_nanosleep")
        for _ in range(2 + i % 4):  # separate presses, a few ms apart
            term.keys("C-c")
            presses += 1
        assert term.ended() is None, f"the shell ended after {presses} Ctrl-C presses:\n{term.screen()}"
        # The prompt line may read "^Cnetrepl>" (the terminal echoes late presses): check by use, not by look.
        term.wait_reading_keys()
        term.type(f"print alive-{i}")
        term.keys("Enter")
        term.wait(lambda: f"alive-{i}" in term.lines(), f"print alive-{i} to run")
    print(f"{presses} Ctrl-C presses in 12 blocking commands: the shell is still running")
    term.wait_reading_keys()
    term.keys("C-u")  # drop anything a late Ctrl-C left on the line
    term.wait_prompt()
    info = output_after(term.run("info"), "info")
    assert re.search(r"state\s+tcp connected", info), info
    assert re.search(rf"peer\s+127\.0\.0\.1:{p.port}\b", info), info
    p.release()
    assert "still-here" in output_after(term.run("recv line"), "recv line")
    assert not p.eof.is_set()
    assert "netrepl: interrupted" not in term.screen(scrollback=True)


def test_ctrl_c_during_a_connect_that_hangs_leaves_an_accurate_state(shell):
    # A listener whose accept queue is full drops new SYNs: connect() waits (retrying) for minutes.
    listener = socket.socket()
    fillers = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(8):  # fill the queue: stop when a handshake no longer completes
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
            if not select.select([], [s], [], 1.0)[1]:
                break
        else:
            pytest.skip("could not fill the listen queue on this system")
        term = shell()
        term.run("timeout none")
        before = term.prompts()
        term.type(f"connect 127.0.0.1 {port}")
        term.wait_prompt(f"connect 127.0.0.1 {port}")
        term.keys("Enter")
        term.wait_blocked("connect")
        started = time.monotonic()
        term.keys("C-c")
        term.wait(lambda: term.prompts() > before and term.at_prompt(), "the prompt after Ctrl-C",
                  timeout=INTERRUPT_BOUND)
        print(f"Ctrl-C during a hanging connect: prompt back after {(time.monotonic() - started) * 1000:.0f} ms")
        shown = output_after(term.screen(), f"connect 127.0.0.1 {port}")
        assert re.search(r"error: connect\b.*interrupted", shown), shown
        info = output_after(term.run("info"), "info")
        assert re.search(r"state\s+no socket", info), info  # the half-made socket was closed, and it says so
        wait_toolbar(term, "no socket")
    finally:
        for s in fillers:
            s.close()
        listener.close()


# ----- Ctrl-D, history --------------------------------------------------------------


def test_ctrl_d_exits_and_closes_the_socket(shell, peer):
    p = peer()
    term = shell()
    term.run(f"connect 127.0.0.1 {p.port}")
    assert p.accepted.wait(10)
    assert not p.eof.is_set()
    term.keys("C-d")
    assert term.wait_dead() == 0
    assert p.eof.wait(10), "the peer never saw the connection close"
    assert "Traceback" not in term.screen(scrollback=True)


def test_history_recalls_the_previous_run_and_is_private(shell, tmp_path):
    histfile = tmp_path / "state" / "netrepl" / "history"  # nothing exists yet
    first = shell(histfile)
    first.run("help close")
    first.run("print one two")
    first.keys("C-d")
    assert first.wait_dead() == 0
    assert stat.S_IMODE(histfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(histfile.parent.stat().st_mode) == 0o700

    second = shell(histfile)
    second.keys("Up")
    second.wait_prompt("print one two")
    second.keys("Up")
    second.wait_prompt("help close")
    second.keys("Enter")
    second.wait_text("usage: close")


def test_history_survives_the_shell_being_killed(shell, tmp_path):
    histfile = tmp_path / "history"
    first = shell(histfile)
    first.run("help info")
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait_dead() != 0
    second = shell(histfile)
    second.keys("Up")
    second.wait_prompt("help info")


# ----- what reaches the screen ----------------------------------------------------------

HOSTILE = (b"hello\r\n"
           b"\x1b[2J\x1b[H\x1b[3;1Hmoved"            # clear screen, cursor home, cursor move
           b"\x1b[?1049h"                             # alternate screen
           b"\x1b]0;pwned-title\x07\x1b]2;pwned2\x1b\\"  # OSC titles (BEL and ST)
           b"\x1b]52;c;aGk=\x07"                      # OSC 52 clipboard
           b"\x9b2J\xc2\x9b2J"                        # C1 CSI: a raw byte and as UTF-8
           b"\x1b[6n\x1b[c"                           # queries a terminal answers (into our input)
           b" tail-text\n")


def test_a_hostile_peer_leaves_the_screen_intact(shell, peer):
    p = peer(first=HOSTILE, later=HOSTILE)
    term = shell()
    title = term.fmt("#{pane_title}")
    term.run(f"connect 127.0.0.1 {p.port}")
    screen = term.run("recv")
    lines = screen.split("\n")
    assert lines[0].startswith("netrepl "), screen  # the banner was not cleared away
    assert lines[1] == f"{PROMPT}connect 127.0.0.1 {p.port}", screen
    shown = output_after(screen, "recv")
    for escaped in (r"\x1b[2J", r"\x1b[3;1Hmoved", r"\x1b[?1049h", r"\x1b]0;pwned-title\x07", r"\x1b[6n",
                    "tail-text"):
        assert escaped in shown, (escaped, shown)

    term.run("set display hex")
    p.release()
    screen = term.run("recv")
    assert re.search(r"1b +5b +32 +4a", output_after(screen, "recv")), screen  # ESC [ 2 J as hex
    term.run("timeout 0.2")
    screen = term.run('expect "never sent"')  # the error message quotes the peer's bytes
    assert "error: expect" in output_after(screen, 'expect "never sent"'), screen

    lines = term.lines()
    assert lines[0].startswith("netrepl ") and lines[1].startswith(f"{PROMPT}connect"), "\n".join(lines)
    assert term.at_prompt()  # no answer to a terminal query was typed into the prompt
    assert term.fmt("#{pane_title}") == title
    assert term.fmt("#{alternate_on}") == "0"
    assert not any(line.startswith("moved") for line in lines)


# ----- colour ------------------------------------------------------------------------------


def test_typed_text_is_highlighted_and_the_toolbar_shows_the_state(shell, peer):
    p = peer()
    term = shell()
    wait_toolbar(term, "no socket")
    term.run(f"connect 127.0.0.1 {p.port}")
    wait_toolbar(term, "tcp connected", f"-> 127.0.0.1:{p.port}")

    line = 'send "hi\\n"'
    term.type(line)
    term.wait_prompt(line)
    _, y = term.cursor()
    coloured = term.screen(escapes=True).split("\n")[y]
    assert "\x1b[" in coloured
    default = (None, None, frozenset())
    command_pen, string_pen = style_of(coloured, "send"), style_of(coloured, '"hi')
    assert command_pen != default and string_pen != default, styled_runs(coloured)
    assert command_pen != string_pen, styled_runs(coloured)  # a command and a string look different


# ----- typing ahead, pasting, history the shell cannot use -------------------------------


def test_keys_typed_while_a_command_runs_are_not_echoed_into_it_and_run_next(shell):
    term = shell()
    before = term.prompts()
    term.type("sleep 1.5")
    term.wait_prompt("sleep 1.5")
    term.keys("Enter")
    term.wait_blocked("clock_nanosleep")
    assert term.wait(lambda: tty_lflag(term), "the terminal's modes") & termios.ECHO == 0  # off while it runs
    term.type("print typed")  # while the sleep runs: the terminal must not echo it
    term.keys("Enter")
    term.wait(lambda: "typed" in term.lines(), "the typed-ahead line to run")
    term.wait(lambda: term.prompts() > before + 1 and term.at_prompt(), "the prompt after print typed")
    lines = term.lines()
    at = lines.index(PROMPT + "sleep 1.5")
    # No "print typed" scribbled into the sleep's output: the next prompt shows it, and it ran.
    assert lines[at + 1].startswith("slept 1.5 s"), "\n".join(lines)
    assert lines[at + 2:at + 4] == [PROMPT + "print typed", "typed"], "\n".join(lines)


def tty_lflag(term: Term) -> int | None:
    try:
        fd = os.open(term.tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return termios.tcgetattr(fd)[3] | (1 << 62)  # never 0, so that wait() takes it
    finally:
        os.close(fd)


def test_echo_is_back_on_after_an_interrupted_command_and_at_the_end(tmp_path):
    why = unavailable()
    if why:
        pytest.skip(why)
    # The shell, then (in the same process, so the pane's pid stays the one blocking) whether echo is on.
    probe = tmp_path / "echo-after"
    code = ("import sys, termios; from netrepl.cli import main; status = main([]); "
            f"open({str(probe)!r}, 'w').write(str(termios.tcgetattr(0)[3] & termios.ECHO)); sys.exit(status)")
    env = dict(os.environ, TERM="xterm-256color", NETREPL_HISTFILE=str(tmp_path / "history"))
    env.pop("PYTHONWARNINGS", None)
    term = Term([sys.executable, "-c", code], env, ROOT)
    try:
        term.wait_prompt()
        term.type("sleep 600")
        term.keys("Enter")
        term.wait_blocked("clock_nanosleep")
        assert tty_lflag(term) & termios.ECHO == 0
        term.keys("C-c")
        term.wait_prompt()
        term.type("sleep 0.01")
        term.keys("Enter")
        term.wait(lambda: "slept" in term.screen(), "the sleep to end")
        term.wait_prompt()
        term.keys("C-d")
        assert term.wait_dead() == 0
        assert probe.read_text() != "0", "the shell left the terminal's echo off"
    finally:
        term.close()


def test_a_multi_line_paste_runs_each_line_in_order(shell):
    term = shell()
    term.tmux("set-buffer", "-b", "p", "print a\nprint b\nprint c\n")
    term.tmux("paste-buffer", "-p", "-d", "-b", "p", "-t", "t")  # -p: as a bracketed paste
    term.wait(lambda: "c" in term.lines() and term.at_prompt(), "the three pasted lines to run")
    lines = term.lines()
    at = lines.index(PROMPT + "print a")
    assert lines[at:at + 6] == [PROMPT + "print a", "a", PROMPT + "print b", "b", PROMPT + "print c", "c"], \
        "\n".join(lines)
    assert "error" not in "\n".join(lines)


def test_a_storm_of_ctrl_c_stops_an_endless_recv_all_every_time(shell):
    # A press can be swallowed (prompt_toolkit's output flush has a bare `except:`); the
    # shell's handler used to disarm on its first press, so every later press in that
    # command was ignored and the endless `recv all` could not be stopped (seen within
    # 10 rounds). Here each round presses again while the prompt does not come back.
    term = shell()
    screen = term.run("serve chargen 0")
    port = re.search(r"serving chargen on tcp 127\.0\.0\.1:(\d+)", screen).group(1)
    term.run(f"connect 127.0.0.1 {port}")
    term.run("timeout none")
    extra_presses = 0
    for round_ in range(30):
        term.wait_reading_keys()
        term.type("recv all")
        term.wait_prompt("recv all")
        term.keys("Enter")
        term.wait(lambda: term.tty_signals_on() and any("ABCDEFG" in line for line in term.lines()),
                  "chargen's lines to stream")
        for _ in range(round_ % 4):  # a storm: several presses at once
            term.keys("C-c")
        for attempt in range(5):
            term.keys("C-c")
            try:
                # Back at a prompt: raw mode, waiting for keys. (Counting prompt lines cannot work here:
                # the output pushes them out of the scrollback, and late presses draw fresh prompts.)
                term.wait_reading_keys(timeout=INTERRUPT_BOUND)
                break
            except TermTimeout:
                extra_presses += 1
        else:
            pytest.fail(f"round {round_}: 5 more Ctrl-C presses did not stop `recv all`:\n{term.screen()}")
        term.wait(lambda: term.at_prompt() and interrupted_above(term), "the error above the prompt")
        # (prompt_toolkit's own SIGINT handler used to print "Application is not running" tracebacks here)
        assert "Traceback" not in term.screen(), term.screen()
    print(f"30 rounds of Ctrl-C against an endless recv all; {extra_presses} presses needed again")
    info = output_after(term.run("info"), "info")
    assert re.search(r"state\s+tcp connected", info), info
    assert "Traceback" not in term.screen(scrollback=True)


def interrupted_above(term: Term) -> bool:
    """The line above the prompt, past the bare prompts late presses drew, reports `recv all` interrupted
    (and nothing else: a press while that was being shown does not say "interrupted" again).
    (tmux may still be drawing the output the shell wrote before it went back to its prompt.)"""
    _, y = term.cursor()
    for line in reversed(term.lines()[:y]):
        if line != PROMPT.rstrip():
            # (a press landing in the part of `recv all` that shares recv's code is reported as `recv`;
            # one landing before the socket operation began, or between its result and the next prompt,
            # is reported by the shell itself as a bare `interrupted`: once, as for any command)
            return re.match(r"error: recv( all)?: interrupted|interrupted$", line) is not None
    return False


HOSTILE_HISTORY = ["print \u202eevil-bidi", "print \x1b[2J\x1b]0;owned\x07esc-line"]


def test_history_lines_are_drawn_escaped_when_recalled_and_suggested(shell, tmp_path):
    histfile = tmp_path / "history"
    histfile.write_text("".join(f"\n# 2026-01-01 00:00:00\n+{line}\n" for line in HOSTILE_HISTORY))
    term = shell(histfile)
    title = term.fmt("#{pane_title}")
    term.keys("Up")  # the newest: the line with escapes
    term.wait(lambda: "esc-line" in term.cursor_line(), "the recalled line")
    line = term.cursor_line()
    assert line == PROMPT + "print \\x1b[2J\\x1b]0;owned\\x07esc-line", line
    term.keys("C-u")
    term.type("print ")
    term.keys("Up")
    term.keys("Up")
    term.wait(lambda: "evil-bidi" in term.cursor_line(), "the older recalled line")
    assert term.cursor_line() == PROMPT + "print \\u202eevil-bidi", term.cursor_line()
    term.keys("C-u")
    term.wait_prompt()
    term.type("print \u202e")  # typed: the auto-suggestion completes it from history
    term.wait(lambda: "evil-bidi" in term.cursor_line(), "the suggestion from history")
    assert term.cursor_line() == PROMPT + "print \\u202eevil-bidi", term.cursor_line()
    screen = term.screen(scrollback=True)
    assert "\u202e" not in screen and "\x1b" not in screen and "owned" not in term.fmt("#{pane_title}")
    assert term.fmt("#{pane_title}") == title


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_history_path_that_is_no_file_still_gives_a_prompt(shell, tmp_path, kind):
    path = tmp_path / "hist"
    if kind == "fifo":
        os.mkfifo(path)
        why = "is a FIFO"
    elif kind == "directory":
        path.mkdir()
        why = "is a directory"
    else:
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        path, why = "/dev/full", "is a character device"
    term = shell(path)  # waits for the prompt: a FIFO used to block before it, /dev/full to fill memory
    term.run("print one")
    term.run("print two")
    screen = term.screen(scrollback=True)
    assert screen.count(why) == 1, screen
    assert "Traceback" not in screen
    term.keys("Up")
    term.wait_prompt("print two")  # in memory
    term.keys("C-u")
    term.keys("C-d")
    assert term.wait_dead() == 0
