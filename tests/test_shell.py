"""The interactive shell driven through prompt_toolkit's pipe input and
DummyOutput, against real loopback servers; its toolbar, history file, and
the promise that non-interactive runs never import prompt_toolkit."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
import signal
import struct
import threading

import pytest
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from conftest import ROOT, text_of
from netrepl.commands import REGISTRY
from netrepl.render.escape import is_terminal_safe
from netrepl.core.executor import Executor
from netrepl.shell.paths import ensure_private_file, history_path
from netrepl.shell import Shell, toolbar_text

WAIT = 60  # generous bound for a shell run; it normally takes milliseconds


class Drive:
    """Type keys into a Shell and run it to its end in a thread (so a hang fails instead of blocking)."""

    def __init__(self, executor=None, history=None):
        self.ex = executor or Executor(REGISTRY)
        self.history = history if history is not None else InMemoryHistory()
        self.out = io.StringIO()

    def __call__(self, keys: str) -> int:
        status = []
        with create_pipe_input() as pipe:
            self.shell = Shell(self.ex, history=self.history, input=pipe, output=DummyOutput(), out=self.out)
            pipe.send_text(keys)
            thread = threading.Thread(target=lambda: status.append(self.shell.run()), daemon=True)
            thread.start()
            thread.join(WAIT)
            if thread.is_alive():
                pipe.close()  # end of input: the prompt sees EOF and the shell ends
                thread.join(WAIT)
                pytest.fail(f"the shell did not end after {keys!r}; output so far:\n{self.out.getvalue()}")
        assert status, "the shell ended without a status (an exception escaped it)"
        return status[0]

    @property
    def text(self) -> str:
        return self.out.getvalue()


@pytest.fixture
def drive():
    made = []

    def make(**kw):
        d = Drive(**kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.ex.finish()


@pytest.fixture
def peer(tcp_server):
    """An echo peer that reports when the client's side of the connection is closed."""
    closed = threading.Event()

    def echo(conn):
        while True:
            data = conn.recv(4096)
            if not data:
                closed.set()
                return
            conn.sendall(data)

    server = tcp_server(echo)
    server.closed = closed
    return server


# ----- commands run and their output appears ---------------------------------------

def test_typed_commands_run_against_a_lab_server(drive, lab):
    server = lab("echo")
    d = drive()
    status = d(f"connect 127.0.0.1 {server.port}\rsend hello\rexpect hello\\r\\n\rinfo\rclose\rexit\r")
    assert status == 0
    out = d.text
    assert f"-> 127.0.0.1:{server.port}" in out
    assert "sent 7 bytes" in out
    assert "matched 'hello" in out and "(7 bytes consumed)" in out
    assert "hello\\r\n" in out  # the received \r shown as an escape, never raw
    assert "\r" not in out and "\x1b" not in out
    assert "closed (sent 7 bytes, received 7 bytes)" in out


def test_serve_and_lookup_in_the_shell(drive):
    d = drive()
    assert d("serve echo 0\rserve\rlookup http tcp\r\x04") == 0
    assert "serving echo on tcp 127.0.0.1:" in d.text
    assert "is port 80" in d.text
    assert d.ex.servers == {}  # the shell's end stopped its lab servers


@pytest.mark.parametrize("ending", ["exit\r", "quit\r", "\x04", "  exit  \r"], ids=["exit", "quit", "ctrl-d", "exit-blanks"])
def test_exit_and_ctrl_d_end_with_status_0_and_the_socket_closed(drive, peer, ending):
    d = drive()
    status = d(f"connect 127.0.0.1 {peer.port}\r{ending}print not reached\r")
    assert status == 0
    assert "connected" in d.text and "not reached" not in d.text
    assert d.ex.session.sock is None
    assert peer.closed.wait(WAIT), "the peer never saw the connection close"


def test_ctrl_d_on_a_non_empty_line_does_not_exit(drive):
    d = drive()
    # Ctrl-D with text typed deletes under the cursor (as in readline); the line still runs.
    assert d("print kept\x04\r\x04") == 0
    assert "kept\n" in d.text


def test_ctrl_c_at_the_prompt_clears_the_line_and_continues(drive):
    d = drive()
    status = d("print discarded\x03print second line\r\x03\x03print third\r\x04")
    assert status == 0
    assert "discarded" not in d.text
    assert "second line\n" in d.text and "third\n" in d.text


def test_a_parse_error_shows_a_caret_and_the_shell_continues(drive):
    d = drive()
    assert d("connect localhost 99999\rconect x 1\rprint still here\r\x04") == 0
    lines = d.text.splitlines()
    i = lines.index("  connect localhost 99999")
    assert lines[i + 1] == "  " + " " * len("connect localhost ") + "^"
    assert "out of range" in lines[i + 2]
    j = lines.index("  conect x 1")
    assert lines[j + 1] == "  ^"
    assert "did you mean 'connect'" in lines[j + 2]
    assert "still here" in lines


def test_socket_errors_are_reported_and_the_shell_continues(drive, closed_port):
    d = drive()
    assert d(f"connect 127.0.0.1 {closed_port}\rconnect nohost.invalid 80\rprint alive\r\x04") == 0
    assert "ECONNREFUSED" in d.text
    assert "address-related error" in d.text
    assert "alive\n" in d.text
    assert "Traceback" not in d.text


def test_a_recording_that_cannot_be_written_does_not_end_the_shell(drive):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    d = drive()
    assert d("record /dev/full\rprint one\rprint two\r\x04") == 0
    assert "one\n" in d.text and "two\n" in d.text
    assert "recording to /dev/full stopped" in d.text
    assert d.ex.recorder is None


class BuggyExecutor(Executor):
    """A real executor with one deliberately broken line, standing in for any bug in a handler."""

    def run_line(self, line, *args, **kw):
        if line.strip() == "explode":
            raise RuntimeError("boom \x1b[2J")
        return super().run_line(line, *args, **kw)


def test_an_unexpected_exception_in_a_command_does_not_end_the_shell(drive):
    d = drive(executor=BuggyExecutor(REGISTRY))
    assert d("explode\rprint after\r\x04") == 0
    assert "internal error: RuntimeError: boom" in d.text
    assert "\x1b" not in d.text  # even this message is made terminal-safe
    assert "after\n" in d.text


def test_source_runs_a_script_in_the_shell(drive, tmp_path):
    script = tmp_path / "s.nrs"
    script.write_text("# comment\nprint from the script\nset var X 42\n")
    d = drive()
    assert d(f"source {script}\rprint x=$X\r\x04") == 0
    assert "from the script\n" in d.text and "x=42\n" in d.text


# ----- the toolbar ---------------------------------------------------------------

def toolbar(ex) -> str:
    parts = toolbar_text(ex)
    for style, text in parts:
        assert style.startswith("class:bottom-toolbar")
        assert is_terminal_safe(text), text
    return "".join(text for _, text in parts)


def test_toolbar_shows_state_endpoints_and_byte_counts(ex, lab):
    server = lab("echo")
    before = toolbar(ex)
    assert "no socket" in before and "sent 0 B" in before and "received 0 B" in before
    for line in (f"connect 127.0.0.1 {server.port}", "send hello", "expect hello"):
        assert all(step.result.ok for step in ex.run_line(line))
    local = ex.session.local
    text = toolbar(ex)
    assert ex.session.state() in text and "connected" in text
    assert f"127.0.0.1:{local.port} -> 127.0.0.1:{server.port}" in text
    assert "sent 7 B" in text and "received 7 B" in text
    list(ex.run_line("close"))
    assert "closed" in toolbar(ex)


def test_toolbar_is_terminal_safe_with_hostile_text(ex, tmp_path):
    """Names the toolbar shows (here a recording path from a variable) cannot carry escapes to the terminal."""
    ex.variables["P"] = str(tmp_path / "rec\x1b]0;owned\x07\x1b[2J\u009b1m.nrs")
    steps = list(ex.run_line("record $P"))
    assert steps[-1].result.ok
    text = toolbar(ex)
    assert "recording to" in text
    assert "\x1b" not in text and "\x07" not in text and "\u009b" not in text
    list(ex.run_line("record stop"))


def test_the_shell_uses_the_toolbar_function(drive):
    d = drive()
    d("\x04")
    rendered = d.shell.prompt.bottom_toolbar()
    assert rendered == toolbar_text(d.ex)


# ----- history ---------------------------------------------------------------------

def test_commands_typed_are_stored_in_the_history_file(drive, tmp_path):
    path = tmp_path / "hist"
    d = drive(history=FileHistory(str(path)))
    assert d("print one\rconnect nohost.invalid 80\rprint discarded\x03print two\r\x04") == 0
    stored = list(FileHistory(str(path)).load_history_strings())  # newest first
    assert stored == ["print two", "connect nohost.invalid 80", "print one"]


def test_history_from_a_previous_session_is_offered_again(drive, tmp_path):
    path = tmp_path / "hist"
    first = drive(history=FileHistory(str(path)))
    first("connect db.invalid 5432\r\x04")
    second = drive(history=FileHistory(str(path)))
    # Up recalls the previous command; Enter runs it again.
    second("\x1b[A\r\x04")
    assert "address-related error" in second.text  # the recalled connect ran
    # (prompt_toolkit does not store a line equal to the one before it again)
    assert list(FileHistory(str(path)).load_history_strings()) == ["connect db.invalid 5432"]
    assert "db.invalid" in second.shell.hosts()


def test_history_path_honours_netrepl_histfile(monkeypatch, tmp_path):
    monkeypatch.setenv("NETREPL_HISTFILE", str(tmp_path / "custom"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert history_path() == tmp_path / "custom"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETREPL_HISTFILE", "~/h")
    assert history_path() == tmp_path / "h"


def test_history_path_uses_xdg_state_home_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("NETREPL_HISTFILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert history_path() == tmp_path / "xdg" / "netrepl" / "history"
    monkeypatch.setenv("NETREPL_HISTFILE", "")  # empty: not set
    assert history_path() == tmp_path / "xdg" / "netrepl" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert history_path() == tmp_path / "home" / ".local" / "state" / "netrepl" / "history"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_history_file_is_created_private(monkeypatch, tmp_path):
    old = os.umask(0o022)
    try:
        path = ensure_private_file(tmp_path / "state" / "netrepl" / "history")
    finally:
        os.umask(old)
    assert path.is_file() and path.stat().st_size == 0
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    path.write_text("keep\n")
    ensure_private_file(path)  # again: nothing lost
    assert path.read_text() == "keep\n"


def test_default_shell_history_goes_to_the_private_xdg_file(drive, monkeypatch, tmp_path):
    monkeypatch.delenv("NETREPL_HISTFILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    old = os.umask(0o022)
    try:
        ex = Executor(REGISTRY)
        with create_pipe_input() as pipe:
            shell = Shell(ex, input=pipe, output=DummyOutput(), out=io.StringIO())
            pipe.send_text("print into the default history\r\x04")
            assert shell.run() == 0
    finally:
        os.umask(old)
        ex.finish()
    path = tmp_path / "state" / "netrepl" / "history"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert "+print into the default history" in path.read_text()


# ----- non-interactive runs stay free of prompt_toolkit ----------------------------

def loaded_after(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT, cwd=ROOT, env=env)


@pytest.mark.parametrize("setup", [
    "from netrepl.cli import main; main(['-q', '-c', 'lookup http tcp'])",
    "from netrepl.cli import main; main(['-q', '-c', 'print hi; set var X 1; help; help recv'])",
    "import netrepl.pytest_plugin",
    "import netrepl.shell.lexer",
    "import netrepl.commands, netrepl.language.parser, netrepl.core.executor, netrepl.runner",
], ids=["cli-c", "cli-c-help", "pytest-plugin", "lexer", "core"])
def test_non_interactive_paths_do_not_import_prompt_toolkit(setup):
    done = loaded_after(f"import sys; {setup}; print('PT', 'prompt_toolkit' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "PT False"


def test_the_probe_does_see_prompt_toolkit_when_the_shell_is_imported():
    """The check above can fail: importing the shell does load prompt_toolkit."""
    done = loaded_after("import sys; import netrepl.shell.loop; print('PT', 'prompt_toolkit' in sys.modules)")
    assert done.stdout.strip().splitlines()[-1] == "PT True"


def test_piped_standard_input_does_not_start_the_shell(lab):
    server = lab("echo")
    done = subprocess.run([sys.executable, "-c",
                           "import sys; from netrepl.cli import main; s = main(); "
                           "print('PT', 'prompt_toolkit' in sys.modules); sys.exit(s)"],
                          input=f"connect 127.0.0.1 {server.port}\nsend hi\nexpect hi\nclose\n",
                          capture_output=True, text=True, timeout=WAIT, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matched 'hi'" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "PT False"
    assert "not a terminal" not in done.stderr


def test_source_in_the_shell_echoes_each_command_before_its_output(tmp_path):
    script = tmp_path / "s.nrs"
    script.write_text("# comment\nprint one\nset var X 42\nprint two $X\n")
    d = Drive()
    try:
        assert d(f"source {script}\r\x04") == 0
    finally:
        d.ex.finish()
    assert "netrepl> print one\none\nnetrepl> set var X 42\n" in d.text, d.text
    assert "netrepl> print two $X\ntwo 42\n" in d.text, d.text


# ----- a history file that cannot be used never stops the shell -----------------------

def run_default_shell(keys: str, tmp_path=None):
    """The shell with its default history ($NETREPL_HISTFILE); (status, output, shell)."""
    ex = Executor(REGISTRY)
    out = io.StringIO()
    status = []
    try:
        with create_pipe_input() as pipe:
            pipe.send_text(keys)
            holder = {}

            def go():
                holder["shell"] = shell = Shell(ex, input=pipe, output=DummyOutput(), out=out)
                status.append(shell.run())

            thread = threading.Thread(target=go, daemon=True)
            thread.start()
            thread.join(WAIT)
            if thread.is_alive():
                pipe.close()
                thread.join(WAIT)
                pytest.fail(f"the shell did not end after {keys!r}; output so far:\n{out.getvalue()}")
    finally:
        ex.finish()
    assert status, f"the shell ended without a status:\n{out.getvalue()}"
    return status[0], out.getvalue(), holder["shell"]


def unusable_history(kind, tmp_path):
    if kind == "directory":
        path = tmp_path / "hist"
        path.mkdir()
        return path, "is a directory"
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return path, "is a FIFO"
    if kind == "device":
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        return "/dev/full", "is a character device"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_an_unusable_history_file_is_said_once_and_history_stays_in_memory(monkeypatch, tmp_path, kind):
    path, why = unusable_history(kind, tmp_path)
    monkeypatch.setenv("NETREPL_HISTFILE", str(path))
    status, out, shell = run_default_shell("print one\rprint two\r\x04")
    assert status == 0
    assert out.count(why) == 1, out  # said once, not after every line
    assert "history is kept in memory only" in out and "Traceback" not in out
    assert "one\ntwo\n" in out, out
    assert shell.history.get_strings() == ["print one", "print two"]  # kept in memory


def test_a_history_note_is_escaped(monkeypatch, tmp_path):
    path = tmp_path / "h\x1b]0;owned\x07\x1b[2J\u202e"
    path.mkdir()
    monkeypatch.setenv("NETREPL_HISTFILE", str(path))
    status, out, _ = run_default_shell("\x04")
    assert status == 0 and "is a directory" in out
    assert is_terminal_safe(out) and "\x1b" not in out and "\u202e" not in out


def test_a_symlinked_history_file_is_refused_and_its_target_left_alone(monkeypatch, tmp_path):
    target = tmp_path / "someone-elses-file"
    target.write_text("precious\n")
    os.chmod(target, 0o644)
    link = tmp_path / "history"
    link.symlink_to(target)
    monkeypatch.setenv("NETREPL_HISTFILE", str(link))
    status, out, shell = run_default_shell("print typed\r\x04")
    assert status == 0 and "typed\n" in out
    assert out.count("is a symbolic link (not followed)") == 1, out
    assert mode(target) == 0o644  # not chmod-ed through the link
    assert target.read_text() == "precious\n"  # and nothing typed written to it
    assert not shell.history.persistent


def test_ensure_private_file_does_not_chmod_through_a_symlink(tmp_path):
    target = tmp_path / "target"
    target.write_text("x")
    os.chmod(target, 0o644)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(OSError):
        ensure_private_file(link)
    assert mode(target) == 0o644


def test_a_full_disk_is_said_once_and_history_goes_on_in_memory(tmp_path):
    """A write that fails (here ENOSPC from /dev/full put under the history's descriptor) is
    reported once; later lines are still recalled, from memory."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    from netrepl.shell.history import PrivateHistory

    path = tmp_path / "history"
    history = PrivateHistory(path)
    assert history.persistent and history.notes() == []
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, history.fd)
    finally:
        os.close(full)
    d = Drive(history=history)
    try:
        assert d("print one\rprint two\rprint three\r\x04") == 0
    finally:
        d.ex.finish()
    assert d.text.count("ENOSPC") == 1, d.text  # said once, not after every line
    assert "history is kept in memory from now on" in d.text
    assert "one\ntwo\nthree\n" in d.text.replace(d.text[d.text.index("history:"):d.text.index("now on") + 7], "")
    assert history.get_strings() == ["print one", "print two", "print three"]
    assert not history.persistent


def test_a_huge_history_file_is_read_only_in_its_newest_part(tmp_path):
    from netrepl.shell.history import MAX_LOAD, PrivateHistory

    path = tmp_path / "history"
    entry = "\n# 2026-01-01 00:00:00\n+print entry {}\n"
    with open(path, "w") as f:
        n = 0
        while f.tell() < MAX_LOAD + (1 << 20):
            f.write("".join(entry.format(i) for i in range(n, n + 1000)))
            n += 1000
    history = PrivateHistory(path)
    strings = list(history.load_history_strings())
    assert strings[0] == f"print entry {n - 1}"  # the newest entry is there
    assert sum(len(s) + len(entry) - 14 for s in strings) <= MAX_LOAD  # and no more than the bound was read
    assert all(s.startswith("print entry ") for s in strings)  # no entry cut in two
    notes = history.notes()
    assert len(notes) == 1 and f"only its last {MAX_LOAD >> 20} MiB are loaded" in notes[0]
    history.close()


def test_history_entries_round_trip_in_filehistory_format(tmp_path):
    from netrepl.shell.history import PrivateHistory

    path = tmp_path / "history"
    history = PrivateHistory(path)
    for line in ("print one", "send \"a\"", "print two"):
        history.append_string(line)
    history.close()
    assert list(FileHistory(str(path)).load_history_strings()) == ["print two", 'send "a"', "print one"]
    assert list(PrivateHistory(path).load_history_strings()) == ["print two", 'send "a"', "print one"]
    assert mode(path) == 0o600


# ----- paste --------------------------------------------------------------------------

PASTE = "\x1b[200~{}\x1b[201~"


def test_a_multi_line_paste_runs_each_line_in_order(drive):
    d = drive()
    assert d(PASTE.format("print a\nprint b\r\nprint c") + "\r\x04") == 0
    # The second line is shown after a prompt as if typed; the last, not ended by a newline, waited at the prompt.
    assert "a\nnetrepl> print b\nb\nc\n" in d.text, d.text
    assert "error" not in d.text
    assert d.history.get_strings() == ["print a", "print b", "print c"]


def test_a_paste_ending_in_a_newline_runs_all_its_lines_and_the_prompt_waits(drive):
    d = drive()
    assert d(PASTE.format("print a\nprint b\n") + "print typed\r\x04") == 0
    assert "a\nnetrepl> print b\nb\ntyped\n" in d.text, d.text
    assert d.history.get_strings() == ["print a", "print b", "print typed"]


def test_a_paste_joins_what_was_typed_before_it(drive):
    d = drive()
    assert d("print " + PASTE.format("x\nprint y") + " z\r\x04") == 0
    assert "x\ny z\n" in d.text, d.text


def test_a_single_line_paste_only_inserts(drive):
    d = drive()
    assert d("print " + PASTE.format("pasted") + " typed\r\x04") == 0
    assert "pasted typed\n" in d.text


# ----- Ctrl-C ---------------------------------------------------------------------------

def test_ctrl_c_stays_armed_for_the_whole_command():
    from netrepl.shell import CtrlC

    handler = CtrlC()
    handler(signal.SIGINT, None)  # between commands: ignored
    handler.armed = True
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)  # the first press, say swallowed by prompt_toolkit's flush
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)  # the next press still interrupts
    handler.armed = False
    handler(signal.SIGINT, None)


class SwallowingExecutor(Executor):
    """`swallow` stands for a command whose first Ctrl-C is swallowed by a library's bare except."""

    handler = None

    def run_line(self, line, *args, **kw):
        if line.strip() == "swallow":
            try:
                self.handler(signal.SIGINT, None)
            except BaseException:
                pass  # swallowed
            self.handler(signal.SIGINT, None)  # the second press
            raise AssertionError("the second Ctrl-C did not interrupt")
        return super().run_line(line, *args, **kw)


def test_a_second_ctrl_c_interrupts_after_a_first_was_swallowed(drive):
    d = drive(executor=SwallowingExecutor(REGISTRY))
    d.ex.handler = lambda *a: d.shell.ctrl_c(*a)
    assert d("swallow\rprint after\r\x04") == 0
    assert "interrupted\n" in d.text and "internal error" not in d.text, d.text
    assert "after\n" in d.text
    assert not d.shell.ctrl_c.armed  # disarmed between commands
    d.shell.ctrl_c(signal.SIGINT, None)


# ----- toolbar states and units ---------------------------------------------------------

def state_style(ex) -> str:
    return toolbar_text(ex)[0][0]


def test_toolbar_marks_each_kind_of_state_with_its_own_style(ex, tcp_server, lab):
    from netrepl.shell.style import make_style

    assert state_style(ex) == "class:bottom-toolbar.state.none"
    server = lab("echo")
    list(ex.run_line(f"connect 127.0.0.1 {server.port}"))
    assert state_style(ex) == "class:bottom-toolbar.state.connected"
    list(ex.run_line("close"))
    assert state_style(ex) == "class:bottom-toolbar.state.closed"

    def reset(conn):  # once the client has sent: an abortive close, so its next recv sees ECONNRESET
        conn.recv(1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    rst = tcp_server(reset)
    steps = [step for line in (f"connect 127.0.0.1 {rst.port}", "send x", "recv") for step in ex.run_line(line)]
    assert "lost" in ex.session.state(), [text_of(step.result) for step in steps]
    assert state_style(ex) == "class:bottom-toolbar.state.lost"
    assert "connection lost" in toolbar(ex)

    style = make_style()
    looks = {kind: style.get_attrs_for_style_str(f"class:bottom-toolbar class:bottom-toolbar.state.{kind}")
             for kind in ("connected", "lost", "closed", "none", "peer-closed", "open")}
    assert len(set(looks.values())) == len(looks), looks  # no two kinds look alike
    assert looks["lost"].bgcolor != looks["connected"].bgcolor


def test_toolbar_byte_counts_are_in_human_units(ex):
    ex.session.sent, ex.session.received = 6772316382, 1536
    text = toolbar(ex)
    assert "sent 6.3 GiB" in text and "received 1.5 KiB" in text
    assert "6772316382" not in text


# ----- the input line as drawn ----------------------------------------------------------

def test_the_input_line_is_drawn_with_unsafe_characters_escaped():
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.document import Document
    from prompt_toolkit.layout.controls import BufferControl
    from prompt_toolkit.layout.processors import TransformationInput

    from netrepl.shell.inputview import EscapeUnsafe

    text = "print \u202eab\x1bc"
    buffer = Buffer(document=Document(text))
    fragments = [("class:a", text[:6]), ("class:b", text[6:]), ("class:auto-suggestion", " \u2066more")]
    ti = TransformationInput(BufferControl(buffer), buffer.document, 0, lambda i: i, fragments, 80, 1)
    t = EscapeUnsafe().apply_transformation(ti)
    shown = "".join(f[1] for f in t.fragments)
    assert shown == "print \\u202eab\\x1bc \\u2066more"
    assert is_terminal_safe(shown)
    # Cursor positions map through the escapes both ways.
    assert t.source_to_display(6) == 6 and t.source_to_display(7) == 12
    assert t.source_to_display(len(text)) == len("print \\u202eab\\x1bc")
    assert t.display_to_source(12) == 7 and t.display_to_source(8) == 6
    plain = [("", "print ok")]
    ti = TransformationInput(BufferControl(buffer), buffer.document, 0, lambda i: i, plain, 80, 1)
    assert EscapeUnsafe().apply_transformation(ti).fragments == plain


@pytest.mark.parametrize("path, why", [
    ("/sys/kernel/notes", "earlier entries are loaded, new ones kept in memory"),  # a file that cannot be written
    ("/sys/netrepl-test/history", "cannot create the directory /sys/netrepl-test"),  # sysfs: no new directories
], ids=["read-only-file", "no-directory"])
def test_a_history_file_that_cannot_be_written_is_said_once(monkeypatch, path, why):
    if not os.path.exists("/sys/kernel"):
        pytest.skip("no sysfs")
    monkeypatch.setenv("NETREPL_HISTFILE", path)
    status, out, shell = run_default_shell("print one\rprint two\r\x04")
    assert status == 0 and "Traceback" not in out
    assert out.count(why) == 1, out
    assert "one\ntwo\n" in out
    assert not shell.history.persistent and shell.history.get_strings() == ["print one", "print two"]


class InterruptedExecutor(Executor):
    """`stop` stands for a command the user interrupts with Ctrl-C."""

    def run_line(self, line, *args, **kw):
        if line.strip() == "stop":
            raise KeyboardInterrupt
        return super().run_line(line, *args, **kw)


def test_ctrl_c_during_a_pasted_line_drops_the_rest_of_the_paste(drive):
    d = drive(executor=InterruptedExecutor(REGISTRY))
    assert d(PASTE.format("print a\nstop\nprint not-run\nprint tail") + "print typed\r\x04") == 0
    assert "a\n" in d.text and "interrupted\n" in d.text
    assert "1 pasted line(s) not run" in d.text
    assert "not-run\n" not in d.text
    assert d.text.endswith("\ntyped\n"), d.text  # the next prompt starts empty (no "print tail" left in it)
