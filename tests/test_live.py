"""The live console in a real terminal (tmux): what waits is counted without a keystroke,
`set live on` shows what arrives, `interact` talks as nc does (issue 16).

Each peer is a real loopback socket in a thread of the test; every wait polls with a
deadline (termdrive.Term.wait). What is checked is what the person sees.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time

import pytest

from conftest import ROOT
from termdrive import Term, unavailable

pytest.importorskip("termios")  # POSIX terminals only

ESCAPES = b"\x1b[31mRED\x1b]0;owned\x07\x1b[2J"  # colour, a window title, clear screen
ESCAPES_SHOWN = r"\x1b[31mRED\x1b]0;owned\x07\x1b[2J"


@pytest.fixture
def shell(tmp_path):
    why = unavailable()
    if why:
        pytest.skip(why)
    terms: list[Term] = []

    def start() -> Term:
        env = dict(os.environ, TERM="xterm-256color", NETREPL_HISTFILE=str(tmp_path / "history"))
        env.pop("PYTHONWARNINGS", None)
        try:
            term = Term([sys.executable, "-m", "netrepl"], env, ROOT)
        except RuntimeError as exc:
            pytest.skip(f"tmux cannot start a session here: {exc}")
        terms.append(term)
        term.wait_prompt()
        return term

    yield start
    for term in terms:
        term.close()


class Talker:
    """A loopback TCP server for one client: `script` runs in its thread with the connection;
    what it receives is kept in `heard` and `eof` is set when the client half-closes."""

    def __init__(self, script):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.heard = bytearray()
        self.eof = threading.Event()
        self.conn: socket.socket | None = None
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            self.conn, _ = self.listener.accept()
            self.script(self)
        except OSError:
            pass
        finally:
            self.done.set()

    def read_line(self, timeout: float = 15.0) -> bytes:
        """The next line the client sends (b'' at its end of stream)."""
        self.conn.settimeout(timeout)
        while b"\n" not in self.heard:
            chunk = self.conn.recv(4096)
            if not chunk:
                self.eof.set()
                return b""
            self.heard += chunk
        line, _, rest = bytes(self.heard).partition(b"\n")
        self.heard[:] = rest
        return line + b"\n"

    def close(self):
        self.listener.close()
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
def talker():
    made = []

    def start(script):
        t = Talker(script)
        made.append(t)
        return t

    yield start
    for t in made:
        t.close()


def toolbar(term: Term) -> str:
    return [line for line in term.lines() if line.strip()][-1]


def wait_toolbar(term: Term, *words: str) -> str:
    def shows():
        bar = toolbar(term)
        return bar if all(word in bar for word in words) else None

    return term.wait(shows, f"the toolbar to show {words}")


def start_interact(term: Term) -> None:
    """`interact`, then wait for its own prompt: a Ctrl-D pressed before it reads keys would
    meet the terminal in canonical mode, where it is no key but an end of file."""
    term.type("interact")
    term.keys("Enter")
    term.wait_text("Ctrl-] returns")

    def ready():
        x, y = term.cursor()
        lines = term.lines()
        return y < len(lines) and lines[y].rstrip() == ">" and x == 2

    term.wait(ready, "the interact prompt")


def test_the_toolbar_counts_what_waits_without_a_keystroke_and_reading_takes_all_of_it(shell, talker):
    def script(t):
        t.conn.sendall(b"x" * 63)
        t.read_line()  # until the client's end of stream
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    bar = wait_toolbar(term, "63 B waiting")
    assert "set live on" in bar  # the hint says how to see it as it comes
    assert "received 0 B" in bar  # looking consumed nothing
    term.run("recv 10")
    wait_toolbar(term, "53 B waiting", "received 10 B")
    screen = term.run("recv 100")
    assert "received 53 bytes" in screen  # every byte is still there for the read


def test_the_toolbar_says_end_of_stream_the_moment_the_peer_closes(shell, talker):
    go = threading.Event()

    def script(t):
        t.conn.sendall(b"bye\r\n")
        go.wait(15)
        t.conn.close()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    wait_toolbar(term, "5 B waiting")
    go.set()
    wait_toolbar(term, "5 B waiting, then end of stream")


def test_set_live_on_shows_a_line_that_arrives_later_without_a_keystroke(shell, talker):
    def script(t):
        time.sleep(1.5)
        t.conn.sendall(b"late news " + ESCAPES + b"\r\n")
        t.read_line()
    peer = talker(script)
    term = shell()
    term.run("set live on")
    term.run(f"connect 127.0.0.1 {peer.port}")
    screen = term.wait_text("late news")  # nothing typed since the connect
    assert "# live" in screen  # shown as the `recv` step it was
    assert "late news " + ESCAPES_SHOWN in screen  # the peer's escapes are shown escaped
    assert "owned" not in term.fmt("#{pane_title}")  # and did not retitle the terminal
    wait_toolbar(term, f"received {len(b'late news ' + ESCAPES + bytes(2))} B")  # counted as any recv
    term.wait_prompt()


def test_live_accepts_a_client_at_the_listener_and_shows_what_it_sends(shell):
    term = shell()
    screen = term.run("listen 127.0.0.1 0")
    port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", screen).group(1))
    term.run("set live on")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as client:
        term.wait_text("accepted a connection from 127.0.0.1:")
        client.sendall(b"hello listener\n")
        term.wait_text("hello listener")
    term.wait_text("end of stream: the peer closed its side")


def test_interact_shows_the_reply_live_and_ctrl_bracket_returns_with_the_counts(shell, talker):
    def script(t):
        t.conn.sendall(b"+OK ready\r\n")
        while line := t.read_line():
            t.conn.sendall(b"you said " + line.upper())
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    term.wait_text("+OK ready")
    term.type("hello there")
    term.keys("Enter")
    term.wait_text(r"you said HELLO THERE\r")
    term.keys("C-]")
    got = len(b"+OK ready\r\n" + b"you said HELLO THERE\r\n")
    term.wait_text(f"back at the netrepl prompt (Ctrl-]): sent 13 and received {got} bytes")
    term.wait_prompt()
    screen = term.run("info")
    assert re.search(r"sent +13 bytes", screen) and re.search(rf"received +{got} bytes", screen)


def test_interact_shows_a_peers_escape_sequences_escaped(shell, talker):
    def script(t):
        t.read_line()
        t.conn.sendall(ESCAPES + b"\r\n")
        t.read_line()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    term.type("go")
    term.keys("Enter")
    term.wait_text(ESCAPES_SHOWN)
    assert "owned" not in term.fmt("#{pane_title}")
    term.keys("C-]")
    term.wait_prompt()


def test_ctrl_d_in_interact_half_closes_and_what_arrives_after_is_still_shown(shell, talker):
    def script(t):
        while t.read_line():
            pass
        t.conn.sendall(b"seen your end\r\n")  # the server saw EOF and still talks
        time.sleep(0.3)
        t.conn.close()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    term.keys("C-d")
    term.wait_text("half-closed")
    assert peer.eof.wait(15), "the server never saw the end of stream"
    term.wait_text("seen your end")
    term.wait_text("back at the netrepl prompt (the peer closed)")
    term.wait_prompt()
    wait_toolbar(term, "write side shut, peer closed")


def test_what_interact_sent_and_received_is_recorded_as_the_steps_it_was(shell, talker, tmp_path):
    def script(t):
        t.read_line()
        t.conn.sendall(b"PONG\r\n")
        t.read_line()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    term.run(f"record -e {tmp_path / 'talk.nrs'}")
    start_interact(term)
    term.type("PING $x # not a comment")
    term.keys("Enter")
    term.wait_text("PONG")
    term.keys("C-]")
    term.wait_prompt()
    term.run("record stop")
    recorded = (tmp_path / "talk.nrs").read_text()
    assert "send PING \\x24x # not a comment" in recorded
    assert "expect PONG\\r" in recorded  # the reply, as a check for a replay
    assert "interact" not in recorded  # a script cannot replay a person
    # Typed lines have their own history, next to the command history.
    assert "PING $x # not a comment" in (tmp_path / "history.interact").read_text()
    assert "PING" not in (tmp_path / "history").read_text()


def test_the_toolbar_drops_whole_fields_to_fit_and_never_cuts_one(shell, talker, tmp_path):
    peer = talker(lambda t: t.read_line())
    term = shell()
    term.run("listen 127.0.0.1 0")
    term.run(f"connect 127.0.0.1 {peer.port}")
    name = tmp_path / ("r" * max(1, 100 - len(f"record {tmp_path}/.nrs")) + ".nrs")
    term.run(f"record {name}")
    bar = wait_toolbar(term, "tcp connected")
    assert len(bar) <= 120
    for field in re.split(r"\s{2,}", bar.strip()):
        assert field.startswith(("tcp connected", "127.0.0.1:", "sent ", "received ", "listening on 127.0.0.1:",
                                 "recording to ")), field
    listening = re.search(r"listening on (\S+)", bar)
    assert listening is None or re.fullmatch(r"127\.0\.0\.1:\d+", listening.group(1))
    assert "recording to" not in bar  # the least important field went first


def test_a_paste_in_interact_sends_each_line_with_the_line_ending(shell, talker):
    lines: list[bytes] = []

    def script(t):
        while line := t.read_line():
            lines.append(line)
            t.conn.sendall(b"got " + line)
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    term.tmux("set-buffer", "-b", "p", "USER me\nPASS secret")
    term.tmux("paste-buffer", "-p", "-d", "-b", "p", "-t", "t")  # -p: as a bracketed paste
    term.keys("Enter")
    term.wait_text(r"got PASS secret\r")
    assert lines == [b"USER me\r\n", b"PASS secret\r\n"]
    term.keys("C-]")
    term.wait_prompt()


def test_ctrl_c_in_interact_clears_the_line_and_interact_goes_on(shell, talker):
    lines: list[bytes] = []

    def script(t):
        while line := t.read_line():
            lines.append(line)
            t.conn.sendall(b"got " + line)
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    term.type("never sent")
    term.wait(lambda: "> never sent" in term.lines(), "the typed line")
    term.keys("C-c")
    term.wait_text("(line cleared; Ctrl-] returns to the netrepl prompt)")
    term.type("sent")
    term.keys("Enter")
    term.wait_text(r"got sent\r")
    assert lines == [b"sent\r\n"]
    assert "Traceback" not in term.screen(scrollback=True)
    term.keys("C-]")
    term.wait_prompt()


def test_live_over_tls_ignores_session_tickets_and_shows_the_data(shell):
    """TLS 1.3 sends session tickets after the handshake: records, but no data. A live `recv` on
    them would wait the whole timeout with the prompt frozen; it must wait for real data."""
    term = shell()
    term.run("serve tls-echo 0")
    term.run("set tls ca $lab_ca")
    term.run("set live on")
    term.run("connect localhost $lab_port")
    term.run("tls")
    time.sleep(1.0)  # the tickets arrive meanwhile: nothing may run for them
    assert "# live" not in term.screen()
    term.run("send hi " + ESCAPES.decode("latin-1").replace("\x1b", "\\e").replace("\x07", "\\x07"))
    term.wait_text("# live")
    term.wait_text(r"hi " + ESCAPES_SHOWN + r"\r")
    assert "timeout" not in term.screen()
    wait_toolbar(term, "received 27 B")


def test_the_word_being_typed_is_not_marked_until_it_is_finished(shell):
    term = shell()
    term.type("sett")
    term.wait_prompt("sett")
    time.sleep(0.6)  # a refresh of the toolbar and the validation would have come by now
    assert "unknown command" not in term.screen()
    term.type(" ")
    term.wait_text("unknown command 'sett'")


def test_timing_in_the_shell_leaves_the_typing_pause_out(shell, talker):
    def script(t):
        t.read_line()
        t.conn.sendall(b"pong\r\n")
        t.read_line()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    time.sleep(1.5)  # the person thinks before typing the next command
    term.run("send ping")
    term.run("recv 100")
    screen = term.run("timing")
    figure = re.search(r"\(1 connect attempt\): ([\d.]+) (ms|us|s) in all", screen)
    assert figure and figure.group(2) != "s", screen  # milliseconds of phases, not the 1.5 s pause
    left_out = re.search(r"time between commands left out: (\d+\.\d+) s", screen)
    assert left_out and float(left_out.group(1)) >= 1.4, screen  # at least the pause (more on a loaded machine)


def test_interact_shows_a_prompt_without_a_line_end_at_once(shell, talker):
    """A peer's `Password: ` has no newline: it is shown as it arrives, without a keystroke,
    and the typed answer is sent with the line ending."""
    def script(t):
        t.conn.sendall(b"login: ")
        user = t.read_line()
        t.conn.sendall(b"Password: ")
        if t.read_line() == b"secret\r\n":
            t.conn.sendall(b"Welcome " + user.strip() + b"\r\n")
        t.read_line()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    term.type("interact")
    term.keys("Enter")

    def at_the_open_line():  # the peer's `login: ` is where the input starts: the cursor after it
        x, y = term.cursor()
        lines = term.lines()
        return y < len(lines) and lines[y] == "login:" and x == len("login: ")

    term.wait(at_the_open_line, "the input after the peer's open line")
    term.type("bob")
    term.keys("Enter")
    term.wait_text("Password:")
    term.type("secret")
    term.keys("Enter")
    term.wait_text(r"Welcome bob\r")
    lines = [line.rstrip() for line in term.lines()]
    assert "login: bob" in lines and "Password: secret" in lines  # typed where nc's cursor would be
    term.keys("C-]")
    got = len(b"login: Password: Welcome bob\r\n")
    term.wait_text(f"sent 13 and received {got} bytes during interact")


def test_interact_shows_a_line_cut_between_reads_as_one_line(shell, talker):
    """The peer writes one line in three pieces, a moment apart: it is shown as the one line it
    is (each piece on its own line would be a lie), and the end of stream after a last
    unended piece comes after it."""
    def script(t):
        for piece in (b"Pass", b"word: ", b"ok\r\n", b"bye"):
            t.conn.sendall(piece)
            time.sleep(0.4)
        t.conn.close()
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    term.wait_text("back at the netrepl prompt (the peer closed)")
    lines = [line.rstrip() for line in term.lines()]
    assert r"Password: ok\r" in lines, lines
    assert lines.index("bye") + 1 == next(i for i, line in enumerate(lines) if line.startswith("end of stream"))


def test_with_histfile_dev_null_interact_does_not_repeat_the_shells_history_note(tmp_path, talker):
    """NETREPL_HISTFILE=/dev/null keeps no history, typed lines neither: the shell says so
    once when it starts; each `interact` saying it again was noise."""
    why = unavailable()
    if why:
        pytest.skip(why)
    env = dict(os.environ, TERM="xterm-256color", NETREPL_HISTFILE=os.devnull)
    env.pop("PYTHONWARNINGS", None)
    peer = talker(lambda t: t.read_line())
    try:
        term = Term([sys.executable, "-m", "netrepl"], env, ROOT)
    except RuntimeError as exc:
        pytest.skip(f"tmux cannot start a session here: {exc}")
    try:
        term.wait_prompt()
        assert term.screen().count("character device") == 1
        term.run(f"connect 127.0.0.1 {peer.port}")
        start_interact(term)
        term.keys("C-]")
        term.wait_text("back at the netrepl prompt")
        term.wait_prompt()
        assert term.screen().count("character device") == 1
    finally:
        term.close()


def test_a_typed_line_that_starts_with_a_lone_less_than_is_sent_as_text_not_as_a_file(shell, talker, tmp_path):
    """`send < PATH` sends a file: a line typed in interact is text, whatever it starts with,
    so `< FILE` goes to the peer as typed."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"NOT FOR THE PEER\n")
    lines: list[bytes] = []

    def script(t):
        while line := t.read_line():
            lines.append(line)
            t.conn.sendall(b"got " + line)
    peer = talker(script)
    term = shell()
    term.run(f"connect 127.0.0.1 {peer.port}")
    start_interact(term)
    for typed in (f"< {secret}", "<", "<b"):
        term.type(typed)
        term.keys("Enter")
        term.wait_text(r"got " + typed + r"\r")
    term.keys("C-]")
    term.wait_prompt()
    assert lines == [f"< {secret}\r\n".encode(), b"<\r\n", b"<b\r\n"]
