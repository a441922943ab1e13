"""Drive a real program in a real pseudo-terminal: a private tmux server per Term.

tmux renders what the program writes like a terminal does, so `screen()`
(capture-pane) is what a person would see, and `fmt()` reads the pane's
own state (title, alternate screen, cursor, whether the process ended).
Every wait polls with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

TMUX = shutil.which("tmux")
WAIT = 15.0  # generous bound for anything to show up on a loaded machine
POLL = 0.02

# System call numbers, to see where a process is blocked (/proc/PID/syscall).
_SYSCALLS = {
    "x86_64": {"recvfrom": 45, "poll": 7, "ppoll": 271, "connect": 42, "clock_nanosleep": 230,
               "epoll_wait": 232, "epoll_pwait": 281, "select": 23},
    "aarch64": {"recvfrom": 207, "ppoll": 73, "connect": 203, "clock_nanosleep": 115, "epoll_pwait": 22},
}

_CONFIG = """\
set -g status off
set -g remain-on-exit on
set -g history-limit 5000
set -g default-terminal xterm-256color
set -g escape-time 0
"""


def unavailable() -> str | None:
    """Why terminal tests cannot run here, or None."""
    if os.name != "posix":
        return "needs a POSIX pseudo-terminal"
    if TMUX is None:
        return "tmux is not installed (.ci/run installs it)"
    if not os.path.exists("/dev/ptmx"):
        return "no pseudo-terminal device (/dev/ptmx)"
    return None


class TermTimeout(AssertionError):
    pass


class Term:
    """One program in one tmux pane of a private tmux server, `width` x `height` cells."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | Path,
                 width: int = 120, height: int = 40):
        # A short private directory: unix socket paths are limited to ~100 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="nrterm"))
        self.socket = str(self.dir / "s")
        (self.dir / "tmux.conf").write_text(_CONFIG)
        # The server is started with `env`, and a pane inherits the server's environment
        # (TERM comes from default-terminal): no `new-session -e`, which needs tmux 3.2.
        self.env = {k: v for k, v in env.items() if k not in ("TMUX", "TMUX_PANE")}
        self.closed = False
        command = "exec " + " ".join(_quote(a) for a in argv)
        try:
            self.tmux("-f", str(self.dir / "tmux.conf"), "new-session", "-d", "-s", "t",
                      "-x", str(width), "-y", str(height), "-c", str(cwd), command)
            self.pid = int(self.fmt("#{pane_pid}"))
            self.tty = self.fmt("#{pane_tty}")
        except BaseException:
            self.close()
            raise

    # ----- talking to tmux ---------------------------------------------------

    def tmux(self, *args: str) -> str:
        done = subprocess.run([TMUX, "-S", self.socket, *args], capture_output=True, text=True,
                              env=self.env, timeout=WAIT)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def fmt(self, spec: str) -> str:
        """A tmux format for the pane, e.g. '#{pane_title}', '#{alternate_on}'."""
        return self.tmux("display-message", "-p", "-t", "t", spec).rstrip("\n")

    def keys(self, *keys: str) -> None:
        """Named keys such as 'Enter', 'Tab', 'Up', 'C-c', 'C-d'."""
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        """Literal text, as typed."""
        self.tmux("send-keys", "-t", "t", "-l", text)

    def screen(self, escapes: bool = False, scrollback: bool = False) -> str:
        """The rendered pane (trailing blanks trimmed); with `escapes`, the SGR colour codes too."""
        args = ["capture-pane", "-p", "-t", "t"]
        if escapes:
            args.append("-e")
        if scrollback:
            args += ["-S", "-"]
        return self.tmux(*args)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen().split("\n")]

    def cursor(self) -> tuple[int, int]:
        x, y = self.fmt("#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def cursor_line(self) -> str:
        _, y = self.cursor()
        lines = self.lines()
        return lines[y] if y < len(lines) else ""

    def ended(self) -> int | None:
        """None while the program runs; then its exit status, or -N when signal N killed it.

        tmux reports the status once it has reaped the process; tmux 3.3a was seen
        to leave it a zombie for good (1 run in 3 here), so a zombie's own exit
        code (/proc/PID/stat field 52) counts too.
        """
        dead, status, sig = self.fmt("#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}").split("|")
        if dead == "1" and status.isdigit():
            return int(status)
        if dead == "1" and sig.isdigit():
            return -int(sig)
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None  # reaped just now: tmux has the status on the next look
        if fields[0] != "Z" or len(fields) < 50:
            return None
        code = int(fields[49])
        return os.waitstatus_to_exitcode(code)

    def describe(self) -> str:
        """The pane and process state in one line, for failure messages."""
        pane = self.fmt("dead=#{pane_dead} status=#{pane_dead_status} signal=#{pane_dead_signal} "
                        "cursor=#{cursor_x},#{cursor_y}")
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            call = Path(f"/proc/{self.pid}/syscall").read_text().split()[0]
        except (OSError, IndexError):
            stat = call = "?"
        return f"{pane} pid={self.pid} state={stat} syscall={call}"

    # ----- waiting -------------------------------------------------------------

    def running(self) -> bool:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")

    def wait(self, check, what: str, timeout: float = WAIT, while_running: bool = True):
        """Poll `check()` until it returns something true; return that.

        Fails at once if the program ends meanwhile (unless `while_running` is False).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if while_running and not self.running():
                raise TermTimeout(f"the program ended while waiting for {what} ({self.describe()}); "
                                  f"the screen shows:\n{self.screen()}")
            if time.monotonic() > deadline:
                raise TermTimeout(f"waited {timeout:g} s for {what} ({self.describe()}); "
                                  f"the screen shows:\n{self.screen()}")
            time.sleep(POLL)

    def wait_text(self, text: str, timeout: float = WAIT) -> str:
        def found():
            screen = self.screen()
            return screen if text in screen else None

        return self.wait(found, f"{text!r} on screen", timeout)

    def prompts(self) -> int:
        """How many prompt lines the screen and scrollback hold."""
        return sum(1 for line in self.screen(scrollback=True).split("\n")
                   if line.startswith(PROMPT) or line == PROMPT.rstrip())

    def at_prompt(self, typed: str = "") -> bool:
        """The cursor sits on a prompt line holding exactly `typed`, at its end."""
        x, y = self.cursor()
        lines = self.lines()
        line = lines[y] if y < len(lines) else ""
        return line == (PROMPT + typed).rstrip() and x == len(PROMPT) + len(typed)

    def wait_prompt(self, typed: str = "", timeout: float = WAIT) -> None:
        self.wait(lambda: self.at_prompt(typed), f"the prompt with {typed!r}", timeout)

    def run(self, line: str, timeout: float = WAIT) -> str:
        """Type a command at an idle prompt, press Enter, wait for the next prompt; return the screen."""
        self.wait_prompt()
        before = self.prompts()
        self.type(line)
        self.wait_prompt(line)
        self.keys("Enter")
        self.wait(lambda: self.prompts() > before and self.at_prompt(), f"the prompt after {line!r}", timeout)
        return self.screen()

    def wait_dead(self, timeout: float = WAIT) -> int:
        """Wait for the program to end; its exit status (-N: killed by signal N)."""
        def status():
            code = self.ended()
            return None if code is None else [code]

        return self.wait(status, "the program to end", timeout, while_running=False)[0]

    def tty_signals_on(self) -> bool:
        """The pane's terminal is in cooked mode: Ctrl-C there sends SIGINT (not a key to read)."""
        if not self.running():
            return False  # its terminal may be gone, or already reused by another program
        try:
            fd = os.open(self.tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return False
        import termios  # POSIX only: imported here so that Windows skips instead of failing to import

        try:
            lflag = termios.tcgetattr(fd)[3]
        finally:
            os.close(fd)
        return bool(lflag & termios.ISIG)

    def wait_reading_keys(self, timeout: float = WAIT) -> None:
        """Wait until the program waits for keys in raw mode (a prompt_toolkit prompt is up)."""
        streak = [0]

        def settled():
            ok = not self.tty_signals_on() and self.blocked_in("epoll_wait", "epoll_pwait", "poll", "ppoll", "select")
            streak[0] = streak[0] + 1 if ok else 0
            return streak[0] >= 3

        self.wait(settled, "the program to wait for keys in raw mode", timeout)

    def blocked_in(self, *calls: str) -> bool:
        """The program's main thread sleeps in one of the syscalls `calls` (e.g. 'recvfrom').

        Reads /proc/PID/syscall; where that is unreadable or the machine's
        numbers are unknown, falls back to "sleeping" (/proc/PID/stat).
        """
        numbers = _SYSCALLS.get(platform.machine(), {})
        wanted = {numbers[c] for c in calls if c in numbers}
        if wanted:
            try:
                first = Path(f"/proc/{self.pid}/syscall").read_text().split()[0]
            except (OSError, IndexError):
                first = None
            if first is not None and first.lstrip("-").isdigit():
                return int(first) in wanted
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] == "S"

    def wait_blocked(self, *calls: str, timeout: float = WAIT) -> None:
        """Wait until the program blocks in `calls` with Ctrl-C armed (stable over a few polls)."""
        streak = [0]

        def settled():
            ok = self.tty_signals_on() and self.blocked_in(*calls)
            streak[0] = streak[0] + 1 if ok else 0
            return streak[0] >= 5

        self.wait(settled, f"the program to block in {'/'.join(calls)}", timeout)

    # ----- the end -------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            subprocess.run([TMUX, "-S", self.socket, "kill-server"], capture_output=True, env=self.env, timeout=WAIT)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


PROMPT = "netrepl> "

_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


class Pen:
    """The SGR state in effect: foreground, background, attributes (bold, reverse...)."""

    def __init__(self):
        self.fg = self.bg = None
        self.attrs: set[int] = set()

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in re.split(r"[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.fg = self.bg = None
                self.attrs.clear()
            elif c in (38, 48):  # 38;5;N or 38;2;R;G;B
                n = 3 if i + 1 < len(codes) and codes[i + 1] == 5 else 5
                value = tuple(codes[i + 1:i + n])
                if c == 38:
                    self.fg = value
                else:
                    self.bg = value
                i += n - 1
            elif 30 <= c <= 37 or 90 <= c <= 97:
                self.fg = (c,)
            elif c == 39:
                self.fg = None
            elif 40 <= c <= 47 or 100 <= c <= 107:
                self.bg = (c,)
            elif c == 49:
                self.bg = None
            elif 1 <= c <= 9:
                self.attrs.add(c)
            elif 21 <= c <= 29:
                self.attrs.discard(1 if c == 22 else c - 20)
                if c == 22:
                    self.attrs.discard(2)
            i += 1

    def key(self) -> tuple:
        return (self.fg, self.bg, frozenset(self.attrs))


def styled_runs(line: str) -> list[tuple[tuple, str]]:
    """Split a `capture-pane -e` line into (pen in effect, text) runs."""
    runs: list[tuple[tuple, str]] = []
    pen = Pen()
    pos = 0
    for m in _SGR.finditer(line):
        if m.start() > pos:
            runs.append((pen.key(), line[pos:m.start()]))
        pen.apply(m.group(1))
        pos = m.end()
    if pos < len(line):
        runs.append((pen.key(), line[pos:]))
    return runs


def style_of(line: str, word: str) -> tuple:
    """The pen (fg, bg, attributes) in effect where `word` starts in a `capture-pane -e` line."""
    for pen, text in styled_runs(line):
        if word in text:
            return pen
    raise AssertionError(f"{word!r} not within one run of {line!r}")


def _quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./=:+-]+", arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"
