#!/usr/bin/env python3
"""netrepl speed, side by side with nc, socat, hexdump and plain Python.

    python scripts/bench.py            # the full run: a few minutes on 2 cores
    python scripts/bench.py --quick    # smaller sizes, fewer rounds: a smoke run
    python scripts/bench.py --only startup,bulk --rounds 9
    python scripts/bench.py --skip installed   # without building a wheel into a temp venv (~10 s)

Every figure is measured against its reference in the same run, the two
interleaved round by round, and the median is kept. The table gives the
ratio netrepl / reference and the target. Peers are started here, on
127.0.0.1 only (scripts/producer.py). A reference tool that is not
installed is skipped with a note (apt-get install socat netcat-openbsd
ncat bsdextrautils openssl for nc, socat, ncat, hexdump and s_client).

Child processes run with a private bytecode cache (PYTHONPYCACHEPREFIX in a
temp dir, PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED removed) so that
netrepl and the Python references both start from compiled bytecode, as
they do after a normal install. See docs/bench.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCER = ROOT / "scripts" / "producer.py"
PY = sys.executable
MIB = 1 << 20
GIB = 1 << 30
PROMPT = b"netrepl>"  # prompt_toolkit draws the trailing blank as a cursor move


# ----- results -----------------------------------------------------------------

@dataclass
class Row:
    name: str
    netrepl: str  # the figure, formatted
    reference: str  # "what: figure"
    ratio: float | None  # netrepl / reference (None: a plain figure)
    target: str  # e.g. "<= 1.3"
    ok: bool | None  # None: report only, no pass/fail
    note: str = ""


@dataclass
class Context:
    quick: bool
    rounds: int | None
    tmp: Path
    env: dict[str, str]
    netrepl: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)  # every sample, for --json

    def n(self, full: int, quick: int) -> int:
        return self.rounds or (quick if self.quick else full)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)


def med(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 1 else ms(seconds)


def rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e9:.2f} GB/s"


# ----- running things ------------------------------------------------------------

@dataclass
class Run:
    wall: float
    rss_kib: int  # peak resident set size of the child (ru_maxrss)
    rc: int
    out: bytes = b""
    err: bytes = b""
    cpu: float = 0.0  # user + system seconds of the child (wait4): steadier than wall time on a loaded machine


class PeakRSS:
    """The peak resident set size of a running child, polled from /proc/PID/status.

    wait4's ru_maxrss cannot be used for this on Linux: it includes the
    memory of the forked benchmark process before exec (~18 MiB), a floor
    under every figure. VmHWM belongs to the program after exec and only
    grows, so the last value read before the child exits is its peak (give
    or take the last poll interval)."""

    INTERVAL = 0.01

    def __init__(self, pid: int):
        self.path = f"/proc/{pid}/status"
        self.kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while True:
            try:
                with open(self.path, "rb") as f:
                    for line in f:
                        if line.startswith(b"VmHWM:"):
                            self.kib = int(line.split()[1])  # the last value: see the class doc
                            break
            except (OSError, ValueError):
                return
            if self._stop.wait(self.INTERVAL):
                return

    def finish(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.kib


HAVE_PROC = os.path.exists(f"/proc/{os.getpid()}/status")


def run(argv: list[str], ctx: Context, *, stdout_to: str | None = os.devnull, capture: bool = False,
        timeout: float = 120, shell: bool = False, peak: bool = False) -> Run:
    """Run argv to completion: wall time, exit status and (peak=True) peak RSS."""
    with tempfile.TemporaryFile(dir=ctx.tmp) as err, tempfile.TemporaryFile(dir=ctx.tmp) as out:
        sink = out if capture else open(stdout_to or os.devnull, "wb")
        try:
            started = time.perf_counter()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=err, env=ctx.env,
                                 shell=shell)
            watch = PeakRSS(p.pid) if peak and HAVE_PROC else None
            timer = threading.Timer(timeout, p.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - started
            p.returncode = os.waitstatus_to_exitcode(status)
            rss = watch.finish() if watch else usage.ru_maxrss  # fallback: includes the fork's pre-exec memory
        finally:
            if not capture:
                sink.close()
        out.seek(0)
        err.seek(0)
        return Run(wall, rss, p.returncode, out.read() if capture else b"", err.read(),
                   usage.ru_utime + usage.ru_stime)


def peak_reporting(args: list[str]) -> list[str]:
    """netrepl ARGS, run so that it prints its peak RSS (VmHWM) to stderr as it exits."""
    code = ("import atexit, sys\n"
            "def _peak():\n"
            "    try:\n"
            "        for line in open('/proc/self/status'):\n"
            "            if line.startswith('VmHWM:'):\n"
            "                sys.stderr.write('\\nPEAK-KIB ' + line.split()[1] + '\\n')\n"
            "    except OSError:\n"
            "        pass\n"
            "atexit.register(_peak)\n"
            f"sys.path.insert(0, {str(TREE)!r})\n"
            "from netrepl.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return [PY, "-c", code, *args]


def reported_peak(r: Run) -> int | None:
    found = re.findall(rb"\nPEAK-KIB (\d+)\n", r.err)
    return int(found[-1]) if found else None


def paired(a: list[float], b: list[float]) -> float:
    """The median of the round-by-round ratios a/b: each pair ran back to back,
    under the same machine load, so load drift across rounds cancels out."""
    return med([x / y for x, y in zip(a, b)])


def check_ok(r: Run, what: str) -> None:
    if r.rc != 0:
        tail = r.err.decode(errors="replace").strip()[-600:]
        raise RuntimeError(f"{what} exited {r.rc}: {tail}")


class Producer:
    """scripts/producer.py in a child process; stops when we close its stdin."""

    def __init__(self, ctx: Context, *args: str):
        self.p = subprocess.Popen([PY, str(PRODUCER), *args, "--watch-stdin"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=ctx.env)
        line = self.readline(30)
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"producer did not start: {line!r}")
        self.port = int(line.split()[1])

    def readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError("producer: no answer")
        return self.p.stdout.readline().decode().strip()

    def transfer_time(self) -> float:
        """The producer's own timing of the connection that just ended."""
        line = self.readline(30)
        if not line.startswith("done "):
            raise RuntimeError(f"producer: {line}")
        return float(line.split()[2])

    def stop(self) -> None:
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# The source tree whose netrepl is measured (--tree): this checkout by default.
TREE = ROOT


def find_netrepl(tree: Path | None = None) -> tuple[list[str], str]:
    if tree is not None:  # another checkout (e.g. an older commit): what the console script runs, from there
        code = f"import sys; sys.path.insert(0, {str(tree)!r}); from netrepl.cli import main; sys.exit(main())"
        return [PY, "-c", code], f"{PY} -c 'from netrepl.cli import main' with {tree} first on sys.path"
    # The console script beside this interpreter: a pyenv shim on PATH is a
    # shell script that adds ~20 ms to every start.
    beside = Path(PY).parent / "netrepl"
    if beside.exists():
        return [str(beside)], str(beside)
    found = shutil.which("netrepl")
    if found:
        return [found], found
    return [PY, "-m", "netrepl"], f"{PY} -m netrepl (no console script found)"


def openbsd_nc() -> str | None:
    nc = shutil.which("nc")
    if not nc:
        return None
    try:
        text = subprocess.run([nc, "-h"], capture_output=True, timeout=5).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    return nc if b"OpenBSD" in text else None


def child_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP",
                 "PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["NETREPL_HISTFILE"] = str(tmp / "history")
    env["XDG_STATE_HOME"] = str(tmp / "state")
    env.setdefault("TERM", "xterm-256color")
    return env


# ----- 1. script start-up ----------------------------------------------------------

LOOKUP_PY = ("import socket; "
             "print(f\"service 'http'/tcp is port {socket.getservbyname('http', 'tcp')}\")")


def bench_startup(ctx: Context) -> None:
    print("script start-up: netrepl -c 'lookup http tcp' vs python -c getservbyname", flush=True)
    nr = ctx.netrepl + ["-c", "lookup http tcp"]
    ref = [PY, "-c", LOOKUP_PY]
    bare = [PY, "-c", "pass"]
    first = run(nr, ctx, capture=True)
    check_ok(first, "netrepl -c")
    if b"is port 80" not in first.out:
        raise RuntimeError(f"netrepl -c 'lookup http tcp' printed {first.out!r}")
    for _ in range(3):  # warm the bytecode cache and the page cache
        run(nr, ctx), run(ref, ctx), run(bare, ctx)
    t_nr, t_ref, t_bare = [], [], []
    for _ in range(ctx.n(30, 8)):
        t_nr.append(run(nr, ctx).wall)
        t_ref.append(run(ref, ctx).wall)
        t_bare.append(run(bare, ctx).wall)
    a, b, c = med(t_nr), med(t_ref), med(t_bare)
    r = paired(t_nr, t_ref)
    ctx.raw["startup"] = {"netrepl": t_nr, "python_getservbyname": t_ref, "python_pass": t_bare}
    ctx.rows.append(Row("script start-up", ms(a), f"python -c getservbyname: {ms(b)}", r, "<= 1.3",
                        r <= 1.3, f"bare `python -c pass`: {ms(c)}"))


# ----- 1b. start-up as users get it: a wheel installed into a fresh venv ---------------------

def install_wheel(ctx: Context) -> Path:
    """Build a wheel of the tree measured and pip-install it into a fresh venv; its console script.

    The source is copied first (a build in place leaves build/ and egg-info in the checkout).
    The build is pip's isolated one (it fetches setuptools, or takes it from pip's cache); where
    that fails (offline, empty cache), the measuring interpreter's own setuptools builds it.
    netrepl's dependencies are not downloaded again: a .pth file in the new venv puts this
    interpreter's site-packages after the venv's own, as a path entry only, so the editable
    install there (its finder is started by a .pth file, which a path entry does not run) is
    not seen; netrepl is imported from the wheel's files in the venv's site-packages."""
    src, wheels, venv = ctx.tmp / "wheel-src", ctx.tmp / "wheels", ctx.tmp / "installed"
    shutil.copytree(TREE / "netrepl", src / "netrepl", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(TREE / name, src / name)
    build = [PY, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", str(wheels),
             str(src)]
    tries = [build, build[:4] + ["--no-build-isolation", "--no-index"] + build[4:]]
    why = ""
    for argv in tries:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if proc.returncode == 0:
            break
        why = proc.stderr.strip()[-400:]
    else:
        raise RuntimeError(f"could not build a wheel: {why}")
    wheel = next(wheels.glob("netrepl-*.whl"))
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([PY, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True, timeout=600)
    ours = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    theirs = subprocess.run([PY, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    Path(ours, "zz-bench-dependencies.pth").write_text(theirs + "\n")
    where = subprocess.run([python, "-c", "import netrepl; print(netrepl.__file__)"], capture_output=True,
                           text=True, check=True, cwd=ctx.tmp).stdout.strip()  # (not the checkout: '' is first)
    if not where.startswith(str(venv)):
        raise RuntimeError(f"the installed venv imports netrepl from {where}, not from the wheel")
    return venv


def bench_installed(ctx: Context) -> None:
    print("start-up installed from a wheel vs editable: netrepl -c 'lookup http tcp', time to the prompt",
          flush=True)
    venv = install_wheel(ctx)
    installed = [str(venv / "bin" / "netrepl")]
    # The references run in the new venv too: this interpreter (the editable install's venv) pays
    # for that install's finder at every start, which a user's installed netrepl does not.
    ref = [str(venv / "bin" / "python"), "-c", LOOKUP_PY]
    nr_wheel, nr_edit = installed + ["-c", "lookup http tcp"], ctx.netrepl + ["-c", "lookup http tcp"]
    first = run(nr_wheel, ctx, capture=True)
    check_ok(first, "installed netrepl -c")
    if b"is port 80" not in first.out:
        raise RuntimeError(f"installed netrepl -c 'lookup http tcp' printed {first.out!r}")
    for _ in range(3):  # warm the bytecode cache and the page cache
        run(nr_wheel, ctx), run(nr_edit, ctx), run(ref, ctx)
    t_wheel, t_edit, t_ref = [], [], []
    for _ in range(ctx.n(30, 8)):
        t_wheel.append(run(nr_wheel, ctx).wall)
        t_edit.append(run(nr_edit, ctx).wall)
        t_ref.append(run(ref, ctx).wall)
    r = paired(t_wheel, t_ref)
    ctx.raw["installed_startup"] = {"wheel": t_wheel, "editable": t_edit, "python_getservbyname": t_ref}
    ctx.rows.append(Row("script start-up, installed", ms(med(t_wheel)), f"python -c getservbyname: {ms(med(t_ref))}",
                        r, "<= 1.3", r <= 1.3,
                        f"a wheel pip-installed into a fresh venv, the reference run by that venv's python; "
                        f"the editable install: {ms(med(t_edit))} (installed / editable "
                        f"{paired(t_wheel, t_edit):.2f})"))
    try:
        import pty  # noqa: F401
    except ImportError:
        ctx.note("installed shell start-up skipped: no pty module on this platform")
        return
    env = dict(ctx.env, NETREPL_HISTFILE=str(ctx.tmp / "installed-history"))
    shell_ref = [str(venv / "bin" / "python"), "-c", MINIMAL_SHELL]
    for _ in range(2):
        time_to_prompt(installed, ctx, env), time_to_prompt(ctx.netrepl, ctx, env)
    s_wheel, s_edit, s_ref = [], [], []
    for _ in range(ctx.n(15, 5)):
        s_wheel.append(time_to_prompt(installed, ctx, env))
        s_edit.append(time_to_prompt(ctx.netrepl, ctx, env))
        s_ref.append(time_to_prompt(shell_ref, ctx, ctx.env))
    r = paired(s_wheel, s_ref)
    ctx.raw["installed_shell"] = {"wheel": s_wheel, "editable": s_edit, "promptsession": s_ref}
    ctx.rows.append(Row("shell start-up, installed", ms(med(s_wheel)), f"minimal PromptSession: {ms(med(s_ref))}",
                        r, "<= 1.2", r <= 1.2,
                        f"empty history, the reference run by the new venv's python; the editable install: "
                        f"{ms(med(s_edit))} (installed / editable {paired(s_wheel, s_edit):.2f})"))


# ----- 2. shell start-up (time to the first prompt, in a pty) -------------------------

MINIMAL_SHELL = """\
from prompt_toolkit import PromptSession
try:
    PromptSession().prompt("netrepl> ")
except (EOFError, KeyboardInterrupt):
    pass
"""

_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")


def time_to_prompt(argv: list[str], ctx: Context, env: dict[str, str], timeout: float = 30) -> float:
    """Start argv on a new pty; seconds until PROMPT is shown on it."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started = time.perf_counter()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                         close_fds=True)
    os.close(slave)
    seen = b""
    shown = None
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
            if b"\x1b[6n" in chunk:  # answer the cursor position request, as a terminal does
                os.write(master, b"\x1b[1;1R")
            if PROMPT in _ANSI.sub(b"", seen):
                shown = time.perf_counter() - started
                break
    finally:
        try:
            os.write(master, b"\x04")  # Ctrl-D: leave
        except OSError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        # drain so the child never blocks on a full pty
        while True:
            try:
                if not select.select([master], [], [], 0)[0] or not os.read(master, 65536):
                    break
            except OSError:
                break
        os.close(master)
    if shown is None:
        raise RuntimeError(f"{argv[0]}: no prompt within {timeout} s; output: {_ANSI.sub(b'', seen)[-300:]!r}")
    return shown


def bench_shell(ctx: Context) -> None:
    print("shell start-up: time to the first prompt (pty) vs a minimal PromptSession program", flush=True)
    try:
        import pty  # noqa: F401
    except ImportError:
        ctx.note("shell start-up skipped: no pty module on this platform")
        return
    history = ctx.tmp / "big-history"
    with open(history, "w") as f:  # FileHistory's format: a timestamp comment, then "+line"
        for i in range(10_000):
            f.write(f"\n# 2024-01-01 00:00:{i % 60:02d}.000000\n+send line {i} of a long history\n")
    env_big = dict(ctx.env, NETREPL_HISTFILE=str(history))
    env_empty = dict(ctx.env, NETREPL_HISTFILE=str(ctx.tmp / "empty-history"))
    ref = [PY, "-c", MINIMAL_SHELL]
    for _ in range(2):
        time_to_prompt(ctx.netrepl, ctx, env_big), time_to_prompt(ref, ctx, ctx.env)
    t_big, t_empty, t_ref = [], [], []
    for _ in range(ctx.n(15, 5)):
        t_big.append(time_to_prompt(ctx.netrepl, ctx, env_big))
        t_ref.append(time_to_prompt(ref, ctx, ctx.env))
        t_empty.append(time_to_prompt(ctx.netrepl, ctx, env_empty))
    a, b, c = med(t_big), med(t_ref), med(t_empty)
    r = paired(t_big, t_ref)
    ctx.raw["shell"] = {"netrepl_10k_history": t_big, "netrepl_empty_history": t_empty, "promptsession": t_ref}
    ctx.rows.append(Row("shell start-up", ms(a), f"minimal PromptSession: {ms(b)}", r, "<= 1.2", r <= 1.2,
                        f"with a 10,000-entry history; empty history: {ms(c)} ({paired(t_empty, t_ref):.2f})"))


# ----- 3. bulk receive ------------------------------------------------------------------

# The producer's ceiling: the least a receiver can do is recv_into one buffer
# and drop it (no write, no output). It was the fastest of the sinks tried
# (nc -d, socat -u with 8 KiB and 1 MiB buffers, ncat, recv_into + write to
# /dev/null: docs/bench.md), so what it reaches is what the producer and the
# kernel can deliver, and a receiver's distance from it is its own cost.
CEILING_SINK = ("import socket,sys\n"
                "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
                "b = bytearray(1 << 20); r = s.recv_into\n"
                "while r(b): pass\n")


def bench_bulk(ctx: Context, size: int, sendfile: bool = False) -> None:
    how = "sendfile of a 16 MiB tmpfs file" if sendfile else "sendall of one cache-resident 1 MiB buffer"
    print(f"bulk receive: {size / GIB:g} GiB from a local producer ({how}) to /dev/null", flush=True)
    clients: dict[str, tuple[list[str], bool]] = {}  # name -> (argv, through a shell)
    with Producer(ctx, "bulk", "--bytes", str(size), *(["--sendfile"] if sendfile else [])) as prod:
        port = prod.port
        clients["ceiling"] = ([PY, "-c", CEILING_SINK, str(port)], False)
        clients["netrepl"] = (ctx.netrepl + ["-q", "-c", f"connect 127.0.0.1 {port}; recv all > /dev/null"], False)
        # The same without splice (NETREPL_NO_ZEROCOPY=1: recv_into + write, as off Linux): what splice gains
        clients["netrepl recv_into"] = ("NETREPL_NO_ZEROCOPY=1 exec " + " ".join(map(shlex.quote, ctx.netrepl))
                                        + f" -q -c 'connect 127.0.0.1 {port}; recv all > /dev/null'", True)
        # --raw: the bytes to standard output, as nc -d writes them (both to /dev/null here)
        clients["netrepl --raw"] = (ctx.netrepl + ["--raw", "-q", "-c", f"connect 127.0.0.1 {port}; recv all"], False)
        nc = openbsd_nc()
        if nc:
            clients["nc"] = ([nc, "-d", "127.0.0.1", str(port)], False)
        else:
            ctx.note("OpenBSD nc not found: bulk vs nc skipped (apt-get install netcat-openbsd)")
        socat = shutil.which("socat")
        if socat:
            clients["socat"] = ([socat, "-u", f"TCP:127.0.0.1:{port}", "STDOUT"], False)
        else:
            ctx.note("socat not found: bulk vs socat skipped (apt-get install socat)")
        ncat = shutil.which("ncat")
        if ncat:
            clients["ncat"] = ([ncat, "--recv-only", "127.0.0.1", str(port)], False)
        else:
            ctx.note("ncat not found: bulk vs ncat skipped (apt-get install ncat)")
        clients["python recv_into"] = ([PY, "-c", "import socket,sys\n"
                                        f"s = socket.create_connection(('127.0.0.1', {port}))\n"
                                        "b = bytearray(1 << 20); v = memoryview(b); w = sys.stdout.buffer.raw.write\n"
                                        "while n := s.recv_into(b): w(v[:n])\n"], False)
        # Correctness first: netrepl must report every byte. This run also
        # reads its exact peak RSS at exit (polling could miss a last spike).
        first = run(peak_reporting(["-q", "-c", f"connect 127.0.0.1 {port}; recv all > /dev/null"]), ctx,
                    capture=True)
        check_ok(first, "netrepl recv all")
        prod.transfer_time()
        if f"received {size} bytes in total".encode() not in first.out:
            raise RuntimeError(f"netrepl recv all reported {first.out[-300:]!r}")
        exact = reported_peak(first)
        raw = run(clients["netrepl --raw"][0], ctx)  # standard output to /dev/null, standard error kept
        check_ok(raw, "netrepl --raw recv all")
        prod.transfer_time()
        if f"received {size} bytes in total".encode() not in raw.err:
            raise RuntimeError(f"netrepl --raw recv all reported {raw.err[-300:]!r}")
        transfer: dict[str, list[float]] = {k: [] for k in clients}
        wall: dict[str, list[float]] = {k: [] for k in clients}
        cpu: dict[str, list[float]] = {k: [] for k in clients}
        rss: dict[str, int] = {k: 0 for k in clients}
        names = list(clients)
        for i in range(ctx.n(9, 3)):
            for name in names[i % len(names):] + names[:i % len(names)]:  # a different order each round
                argv, shell = clients[name]
                r = run(argv, ctx, shell=shell, peak=True)
                check_ok(r, name)
                transfer[name].append(prod.transfer_time())
                wall[name].append(r.wall)
                cpu[name].append(r.cpu)
                rss[name] = max(rss[name], r.rss_kib)
    ctx.raw["bulk"] = {"bytes": size, "transfer": transfer, "wall": wall, "cpu": cpu, "rss_kib": rss}
    t = {k: med(v) for k, v in transfer.items()}
    w = {k: med(v) for k, v in wall.items()}
    figure = f"{secs(t['netrepl'])} ({rate(size, t['netrepl'])})"
    extra = "; ".join(f"{k}: {rate(size, t[k])}, wall {secs(w[k])}, peak RSS {rss[k] / 1024:.1f} MiB"
                      for k in clients)
    r = paired(transfer["netrepl"], transfer["ceiling"])
    faster = [k for k in clients if k != "ceiling" and t[k] < t["ceiling"] * 0.97]
    ctx.rows.append(Row("bulk producer ceiling", figure, f"recv_into + drop: {secs(t['ceiling'])} "
                        f"({rate(size, t['ceiling'])})", r, "report", None,
                        f"the producer ({how}) to the cheapest receiver; the ratio is netrepl's share of "
                        "what it can deliver"
                        + (f"; NOTE {', '.join(faster)} beat the ceiling sink this run" if faster else "")))
    if "nc" in t:
        r = paired(transfer["netrepl"], transfer["nc"])
        ctx.rows.append(Row("bulk recv vs nc", figure, f"nc -d: {secs(t['nc'])} ({rate(size, t['nc'])})", r,
                            "<= 1.0", r <= 1.0,
                            f"transfer time as the producer saw it; wall incl. start-up "
                            f"{secs(w['netrepl'])} vs {secs(w['nc'])}"))
    r = paired(transfer["netrepl"], transfer["netrepl recv_into"])
    ctx.rows.append(Row("bulk recv: splice vs recv_into", figure, f"NETREPL_NO_ZEROCOPY=1: "
                        f"{secs(t['netrepl recv_into'])} ({rate(size, t['netrepl recv_into'])})", r, "report", None,
                        "socket -> pipe -> /dev/null with os.splice, against recv_into + write of 1 MiB chunks; "
                        f"CPU (user + system, start-up included) {secs(med(cpu['netrepl']))} vs "
                        f"{secs(med(cpu['netrepl recv_into']))}: steadier than time on a loaded machine"))
    if "nc" in t:
        r = paired(transfer["netrepl --raw"], transfer["nc"])
        ctx.rows.append(Row("bulk --raw vs nc", f"{secs(t['netrepl --raw'])} ({rate(size, t['netrepl --raw'])})",
                            f"nc -d: {secs(t['nc'])} ({rate(size, t['nc'])})", r, "<= 1.1", r <= 1.1,
                            "`netrepl --raw -q -c 'connect ...; recv all'` and `nc -d`, both writing standard output "
                            f"to /dev/null; wall incl. start-up {secs(w['netrepl --raw'])} vs {secs(w['nc'])}"))
    if "socat" in t:
        r = paired(transfer["netrepl"], transfer["socat"])
        ctx.rows.append(Row("bulk recv vs socat", figure, f"socat -u: {secs(t['socat'])} "
                            f"({rate(size, t['socat'])})", r, "< 1.0", r < 1.0, "socat's default 8 KiB buffer"))
    if "ncat" in t:
        r = paired(transfer["netrepl"], transfer["ncat"])
        ctx.rows.append(Row("bulk recv vs ncat", figure, f"ncat --recv-only: {secs(t['ncat'])}", r, "< 1.0",
                            r < 1.0))
    r = paired(transfer["netrepl"], transfer["python recv_into"])
    ctx.rows.append(Row("bulk recv vs raw Python", figure,
                        f"recv_into 1 MiB + write: {secs(t['python recv_into'])}", r, "report", None))
    peak = max(rss["netrepl"], exact or 0) / 1024
    ctx.rows.append(Row("bulk recv peak RSS", f"{peak:.1f} MiB", f"nc: {rss.get('nc', 0) / 1024:.1f} MiB"
                        if "nc" in rss else "-", None, "< 64 MiB", peak < 64,
                        f"netrepl's VmHWM at exit{'' if exact else ' (no /proc: polled or ru_maxrss)'}; " + extra))


# ----- 3b. bulk send of a file (`send < PATH`) and accept to first byte --------------------

SEND_SINK = """\
import socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(4)
print("port", l.getsockname()[1], flush=True)
b = bytearray(1 << 20)
while True:
    c, _ = l.accept()
    n = c.recv_into(b)
    first = time.perf_counter()
    total = n
    while n:
        n = c.recv_into(b)
        total += n
    print("done", total, time.perf_counter() - first, flush=True)
    c.close()
"""


class Sink:
    """SEND_SINK in a child process: counts each connection's bytes, times first byte to end of stream."""

    def __init__(self, ctx: Context):
        self.p = subprocess.Popen([PY, "-c", SEND_SINK], stdout=subprocess.PIPE, env=ctx.env)
        self.port = int(self.readline(30).split()[1])

    def readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError("sink: no answer")
        return self.p.stdout.readline().decode().strip()

    def done(self) -> tuple[int, float]:
        _, total, seconds = self.readline(120).split()
        return int(total), float(seconds)

    def stop(self) -> None:
        self.p.kill()
        self.p.wait()


def bench_sendfile(ctx: Context, size: int) -> None:
    print(f"bulk send: `send < FILE` of {size / GIB:g} GiB vs nc -N reading the same file", flush=True)
    path = ctx.tmp / "payload.bin"
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(block)
    nc = openbsd_nc()
    if not nc:
        ctx.note("OpenBSD nc not found: send < FILE vs nc skipped (apt-get install netcat-openbsd)")
    sink = Sink(ctx)
    try:
        port = sink.port
        clients = {"netrepl": (ctx.netrepl + ["-q", "-c", f"connect 127.0.0.1 {port}; send < {path}"], False)}
        # read + send of 128 KiB chunks, as before sendfile (and as a TLS session or a FIFO still does)
        clients["netrepl read+send"] = ("NETREPL_NO_ZEROCOPY=1 exec " + " ".join(map(shlex.quote, ctx.netrepl))
                                        + f" -q -c 'connect 127.0.0.1 {port}; send < {path}'", True)
        if nc:
            clients["nc"] = (f"{nc} -N 127.0.0.1 {port} < {path}", True)
        first = run(peak_reporting(["-q", "-c", f"connect 127.0.0.1 {port}; send < {path}"]), ctx, capture=True)
        check_ok(first, "netrepl send < FILE")
        got, _ = sink.done()
        if got != size or f"sent {size} bytes".encode() not in first.out:
            raise RuntimeError(f"netrepl send < FILE: the sink got {got} of {size} bytes: {first.out[-300:]!r}")
        exact = reported_peak(first)
        transfer: dict[str, list[float]] = {k: [] for k in clients}
        cpu: dict[str, list[float]] = {k: [] for k in clients}
        rss: dict[str, int] = {k: 0 for k in clients}
        names = list(clients)
        for i in range(ctx.n(7, 3)):
            for name in names[i % len(names):] + names[:i % len(names)]:
                argv, shell = clients[name]
                r = run(argv, ctx, shell=shell, peak=True)
                check_ok(r, name)
                got, seconds = sink.done()
                if got != size:
                    raise RuntimeError(f"{name}: the sink got {got} of {size} bytes")
                transfer[name].append(seconds)
                cpu[name].append(r.cpu)
                rss[name] = max(rss[name], r.rss_kib)
    finally:
        sink.stop()
        path.unlink()
    ctx.raw["sendfile"] = {"bytes": size, "transfer": transfer, "cpu": cpu, "rss_kib": rss}
    t = {k: med(v) for k, v in transfer.items()}
    figure = f"{secs(t['netrepl'])} ({rate(size, t['netrepl'])})"
    r = paired(transfer["netrepl"], transfer["netrepl read+send"])
    ctx.rows.append(Row("`send < FILE`: sendfile vs read+send", figure, f"NETREPL_NO_ZEROCOPY=1: "
                        f"{secs(t['netrepl read+send'])}", r, "report", None,
                        f"CPU (user + system, start-up included) {secs(med(cpu['netrepl']))} vs "
                        f"{secs(med(cpu['netrepl read+send']))}"))
    if "nc" in t:
        r = paired(transfer["netrepl"], transfer["nc"])
        ctx.rows.append(Row("bulk `send < FILE`", figure, f"nc -N < FILE: {secs(t['nc'])} ({rate(size, t['nc'])})",
                            r, "<= 1.1", r <= 1.1, "first byte to end of stream at a recv_into sink (a child "
                            "process); both read the file and write the socket"))
    else:
        ctx.rows.append(Row("bulk `send < FILE`", figure, "-", None, "report", None))
    peak = max(rss["netrepl"], exact or 0) / 1024
    ctx.rows.append(Row("bulk send peak RSS", f"{peak:.1f} MiB", f"nc: {rss['nc'] / 1024:.1f} MiB" if "nc" in rss
                        else "-", None, "< 64 MiB", peak < 64, "netrepl's VmHWM at exit"))


ACCEPT_REF = """\
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(1)
c, _ = l.accept()
c.recv(1)
c.sendall(b"!")
c.close()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_byte(argv: list[str], ctx: Context, port: int) -> float:
    """Start the listener, connect once it listens; seconds from connect() returning to its reply byte."""
    import socket

    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=ctx.env)
    try:
        deadline = time.monotonic() + 30
        while True:
            c = socket.socket()
            try:
                c.connect(("127.0.0.1", port))
                break
            except ConnectionRefusedError:
                c.close()
                if time.monotonic() > deadline or p.poll() is not None:
                    raise RuntimeError(f"{argv[0]} did not listen on {port}") from None
                time.sleep(0.002)
        started = time.perf_counter()
        with c:
            c.settimeout(30)
            c.sendall(b"x")
            if c.recv(1) != b"!":
                raise RuntimeError("no reply byte")
            elapsed = time.perf_counter() - started
        p.wait(30)
        return elapsed
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def bench_accept(ctx: Context) -> None:
    print("accept to first byte: listen, accept, recv 1, send -n ! vs a raw Python listener", flush=True)
    if run(ctx.netrepl + ["-q", "-c", "help accept"], ctx).rc != 0:
        ctx.note("accept to first byte skipped: this netrepl has no listen/accept (branch listen)")
        return
    t_nr, t_ref = [], []
    for _ in range(ctx.n(15, 5)):
        port = _free_port()
        t_nr.append(_first_byte(ctx.netrepl + ["-q", "-c", f"listen 127.0.0.1 {port}; accept; recv 1; send -n !"],
                                ctx, port))
        port = _free_port()
        t_ref.append(_first_byte([PY, "-c", ACCEPT_REF, str(port)], ctx, port))
    ctx.raw["accept"] = {"netrepl": t_nr, "python": t_ref}
    r = paired(t_nr, t_ref)
    us = lambda x: f"{x * 1e6:.0f} us"  # noqa: E731
    ctx.rows.append(Row("accept to first byte", us(med(t_nr)), f"raw Python accept+recv+send: {us(med(t_ref))}",
                        r, "report", None, "from the client's connect() returning to the listener's reply byte"))


# ----- 3c. bulk receive over TLS -------------------------------------------------------------
# A local TLS producer (scripts/producer.py tls: the lab certificate, TLS 1.3 as every client
# here offers it) sends SIZE bytes then close_notify; netrepl `tls -k` + `recv all > /dev/null`
# against socat OPENSSL: (verify=0) and openssl s_client -quiet, none of them verifying. The
# producer times each connection from accept(), and its handshake as the server saw it.

SSLSOCKET_SINK = ("import socket, ssl, sys\n"
                  "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n"
                  "s = c.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))))\n"
                  "b = bytearray(1 << 20); r = s.recv_into\n"
                  "while r(b): pass\n")


def bench_tls(ctx: Context, size: int) -> None:
    print(f"bulk receive over TLS: {size / GIB:g} GiB from a local TLS producer to /dev/null", flush=True)
    script = "connect 127.0.0.1 {port}; tls -k; recv all > /dev/null"
    clients: dict[str, list[str]] = {}
    with Producer(ctx, "tls", "--bytes", str(size)) as prod:
        port = prod.port
        clients["netrepl"] = ctx.netrepl + ["-q", "-c", script.format(port=port)]
        socat, openssl = shutil.which("socat"), shutil.which("openssl")
        if socat:
            clients["socat"] = [socat, "-u", f"OPENSSL:127.0.0.1:{port},verify=0", "/dev/null"]
        else:
            ctx.note("socat not found: TLS vs socat skipped (apt-get install socat)")
        if openssl:
            clients["s_client"] = [openssl, "s_client", "-quiet", "-connect", f"127.0.0.1:{port}"]
        else:
            ctx.note("openssl not found: TLS vs s_client skipped (apt-get install openssl)")
        clients["python SSLSocket"] = [PY, "-c", SSLSOCKET_SINK, str(port)]
        first = run(peak_reporting(["-c", script.format(port=port)]), ctx, capture=True)
        check_ok(first, "netrepl tls + recv all")
        prod_line = prod.readline(30).split()
        if f"received {size} bytes in total".encode() not in first.out or b"close_notify" not in first.out:
            raise RuntimeError(f"netrepl recv all over TLS reported {first.out[-300:]!r}")
        exact = reported_peak(first)
        own = re.search(rb"handshake with \S+ done in ([\d.]+) (ms|us|s)", first.out)
        own_s = float(own.group(1)) * {b"ms": 1e-3, b"us": 1e-6, b"s": 1.0}[own.group(2)] if own else None
        transfer: dict[str, list[float]] = {k: [] for k in clients}
        shake: dict[str, list[float]] = {k: [] for k in clients}
        rss: dict[str, int] = {k: 0 for k in clients}
        cpu: dict[str, list[float]] = {k: [] for k in clients}
        names = list(clients)
        for i in range(ctx.n(7, 3)):
            for name in names[i % len(names):] + names[:i % len(names)]:
                r = run(clients[name], ctx, peak=True)
                check_ok(r, name)
                line = prod.readline(60).split()
                if line[:1] != ["done"]:
                    raise RuntimeError(f"producer: {' '.join(line)}")
                transfer[name].append(float(line[2]))
                shake[name].append(float(line[3]))
                cpu[name].append(r.cpu)
                rss[name] = max(rss[name], r.rss_kib)
    ctx.raw["tls"] = {"bytes": size, "transfer": transfer, "handshake": shake, "rss_kib": rss, "cpu": cpu,
                      "first": prod_line, "netrepl_own_handshake": own_s}
    t = {k: med(v) for k, v in transfer.items()}
    h = {k: med(v) for k, v in shake.items()}
    figure = f"{secs(t['netrepl'])} ({rate(size, t['netrepl'])})"
    refs = [k for k in ("socat", "s_client") if k in t]
    if refs:  # each round against the faster reference of that round
        faster = [min(transfer[k][i] for k in refs) for i in range(len(transfer["netrepl"]))]
        r = paired(transfer["netrepl"], faster)
        shown = "; ".join(f"{k}: {secs(t[k])} ({rate(size, t[k])})" for k in refs)
        ctx.rows.append(Row("TLS recv vs faster of socat/s_client", figure, shown, r, "<= 1.0", r <= 1.0,
                            "1 GiB, TLS 1.3 AES-256-GCM, no verification on any side; per round against "
                            "the faster of the two"))
    if refs:
        c = {k: med(v) for k, v in cpu.items()}
        r = paired(cpu["netrepl"], [min(cpu[k][i] for k in refs) for i in range(len(cpu["netrepl"]))])
        ctx.rows.append(Row("TLS recv CPU vs faster of socat/s_client", f"{c['netrepl']:.2f} s",
                            "; ".join(f"{k}: {c[k]:.2f} s" for k in refs), r, "report", None,
                            "user + system CPU of each client (start-up included): what the client itself "
                            "costs, whatever the load"))
    r = paired(transfer["netrepl"], transfer["python SSLSocket"])
    ctx.rows.append(Row("TLS recv vs Python SSLSocket", figure, f"recv_into 1 MiB: {secs(t['python SSLSocket'])}",
                        r, "report", None))
    peak = max(rss["netrepl"], exact or 0) / 1024
    ctx.rows.append(Row("TLS recv peak RSS", f"{peak:.1f} MiB",
                        "; ".join(f"{k}: {rss[k] / 1024:.1f} MiB" for k in refs) or "-", None, "< 64 MiB",
                        peak < 64, "netrepl's VmHWM at exit"))
    if "s_client" in h:
        own_words = f"; netrepl's own report: {ms(own_s)}" if own_s is not None else ""
        ctx.rows.append(Row("TLS handshake", ms(h["netrepl"]), f"s_client: {ms(h['s_client'])}",
                            h["netrepl"] / h["s_client"], "report", None,
                            "accept() to handshake done, as the producer saw it (netrepl builds its context "
                            f"after connect, s_client before){own_words}"))


# ----- 4. per-command overhead ----------------------------------------------------------------

RAW_LOOP = """\
import socket, sys
port, pairs = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10.0)  # netrepl's default timeout: the same syscalls
out.write(f"created inet tcp socket\\nconnected 127.0.0.1:{s.getsockname()[1]} -> 127.0.0.1:{port} "
          f"(127.0.0.1) in 100 us  [tcp connected]\\n")
for i in range(pairs):
    data = f"line {i:05d}".encode() + b"\\r\\n"
    n = s.send(data)
    out.write(f"sent {n} bytes  [tcp connected]\\n")
    out.flush()
    got = s.recv(2048)
    out.write(f"received {len(got)} bytes  [tcp connected]\\n")
    out.write(got.decode("utf-8", "backslashreplace").replace("\\r", "\\\\r"))
    out.flush()
s.close()
"""


def bench_commands(ctx: Context, pairs: int) -> None:
    print(f"per-command overhead: {pairs} send + recv pairs against a local echo server", flush=True)
    with Producer(ctx, "echo") as prod:
        script = ctx.tmp / "pairs.nrs"
        with open(script, "w") as f:
            f.write(f"connect 127.0.0.1 {prod.port}\n")
            for i in range(pairs):
                f.write(f"send line {i:05d}\nrecv\n")
        nr = ctx.netrepl + ["-q", str(script)]
        ref = [PY, "-c", RAW_LOOP, str(prod.port), str(pairs)]
        a_out, b_out = run(nr, ctx, capture=True), run(ref, ctx, capture=True)
        check_ok(a_out, "netrepl script")
        check_ok(b_out, "raw loop")
        if a_out.out.count(b"received 12 bytes") != pairs:
            raise RuntimeError("netrepl: an echo came back split; the comparison would not be fair")
        t_nr, t_ref = [], []
        for _ in range(ctx.n(7, 3)):
            t_nr.append(run(nr, ctx).wall)
            t_ref.append(run(ref, ctx).wall)
    a, b = med(t_nr), med(t_ref)
    ratio = paired(t_nr, t_ref)
    per = (a - b) / (2 * pairs) * 1e6
    ctx.raw["commands"] = {"pairs": pairs, "netrepl": t_nr, "raw": t_ref,
                           "output_bytes": [len(a_out.out), len(b_out.out)]}
    full_size = pairs >= 5000  # the target is defined for 5,000 pairs: start-up weighs more in fewer
    ctx.rows.append(Row("per-command overhead", secs(a), f"raw Python loop: {secs(b)}", ratio, "<= 1.5",
                        (ratio <= 1.5) if full_size else None,
                        f"{2 * pairs} commands, whole processes; {per:.1f} us more per command; output "
                        f"{len(a_out.out)} vs {len(b_out.out)} bytes"
                        + ("" if full_size else "; fewer pairs than the target's 5,000: reported only")))


# ----- 5. rendering ---------------------------------------------------------------------

def best_of(fn, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def bench_render(ctx: Context, size: int) -> None:
    print(f"rendering: text and hex views of {size // MIB} MiB of random bytes vs hexdump -C", flush=True)
    sys.path.insert(0, str(TREE))
    from netrepl.render.escape import escape_bytes, hexdump

    data = os.urandom(size)
    path = ctx.tmp / "random.bin"
    path.write_bytes(data)
    hd = shutil.which("hexdump")
    if hd is None:
        ctx.note("hexdump not found: rendering ratios skipped (apt-get install bsdextrautils)")
    rounds = ctx.n(3, 2)
    t_text, t_hex, t_ref = [], [], []
    for _ in range(rounds):
        t_text += best_of(lambda: escape_bytes(data), 1)
        t_hex += best_of(lambda: hexdump(data), 1)
        if hd:
            t_ref.append(run([hd, "-C", str(path)], ctx, timeout=600).wall)
    ctx.raw["render"] = {"bytes": size, "escape_bytes": t_text, "hexdump_fn": t_hex, "hexdump_C": t_ref}
    a, b = med(t_text), med(t_hex)
    ref = med(t_ref) if t_ref else None
    where = "in-process netrepl.render.escape call"
    ctx.rows.append(Row("render text view", f"{secs(a)} ({size / a / 1e6:.0f} MB/s)",
                        f"hexdump -C: {secs(ref)}" if ref else "-", a / ref if ref else None, "aim <= 2",
                        a / ref <= 2 if ref else None, f"escape_bytes, {where}"))
    ctx.rows.append(Row("render hex view", f"{secs(b)} ({size / b / 1e6:.0f} MB/s)",
                        f"hexdump -C: {secs(ref)}" if ref else "-", b / ref if ref else None, "aim <= 2",
                        b / ref <= 2 if ref else None, f"hexdump, {where}"))
    # The same through the CLI: `recv all` shown as a hex dump, stdout to /dev/null.
    nc = openbsd_nc()
    with Producer(ctx, "bulk", "--bytes", str(size)) as prod:
        nr = ctx.netrepl + ["-q", "-c", f"set display hex; connect 127.0.0.1 {prod.port}; recv all"]
        t_cli, t_pipe, rss = [], [], 0
        for _ in range(rounds):
            r = run(nr, ctx, timeout=600, peak=True)
            check_ok(r, "netrepl recv all (hex)")
            prod.transfer_time()
            t_cli.append(r.wall)
            rss = max(rss, r.rss_kib)
            if nc and hd:
                r = run(f"{nc} -d 127.0.0.1 {prod.port} | {hd} -C", ctx, shell=True, timeout=600)
                check_ok(r, "nc | hexdump")
                prod.transfer_time()
                t_pipe.append(r.wall)
    ctx.raw["render_cli"] = {"netrepl": t_cli, "nc_hexdump": t_pipe, "rss_kib": rss}
    a = med(t_cli)
    b = med(t_pipe) if t_pipe else None
    ctx.rows.append(Row("render hex via CLI", secs(a), f"nc | hexdump -C: {secs(b)}" if b else "-",
                        a / b if b else None, "aim <= 2", a / b <= 2 if b else None,
                        f"`set display hex; recv all` > /dev/null, whole process; peak RSS {rss / 1024:.0f} MiB"))


# ----- 6. replay: check a large script ----------------------------------------------------

MIXED = [
    "# a comment line",
    "",
    "set var HOST 127.0.0.1",
    "connect $HOST 7",
    "send GET / HTTP/1.0\\r\\nHost: localhost",
    "send -n \\x00\\x01 raw bytes",
    "recv",
    "recv 100",
    "recv line",
    "recv all > /dev/null",
    "expect HTTP/1.",
    "expect /HTTP\\/1\\.[01] 200/",
    "must-fail refused connect 127.0.0.1 9",
    "timeout 2.5",
    "shutdown wr",
    "info",
    "print hello ${NAME:-world}",
    "set eol lf",
    "set display hex",
    "lookup http tcp",
    "close",
    "socket inet udp",
    "sendto 127.0.0.1 9 ping",
    "recvfrom 512",
    "bind 127.0.0.1 0",
    "sleep 0",
]


def bench_replay(ctx: Context, count: int) -> None:
    print(f"replay: parse and check a {count}-line script", flush=True)
    sys.path.insert(0, str(TREE))
    from netrepl.commands import REGISTRY
    from netrepl.language.parser import Parser
    from netrepl.language.nrs import check

    lines = [MIXED[i % len(MIXED)] for i in range(count)]
    parser = Parser(REGISTRY)
    script = check(lines, "bench.nrs", parser, {})
    if script.problems:
        raise RuntimeError(f"the benchmark script has problems: {script.problems[:3]}")
    times, cpu = [], []
    for _ in range(ctx.n(5, 3)):
        started, started_cpu = time.perf_counter(), time.process_time()
        check(lines, "bench.nrs", parser, {})
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    t = med(times)
    ctx.raw["replay"] = {"lines": count, "times": times, "cpu": cpu}
    per_100k = t * 100_000 / count
    ctx.rows.append(Row("replay check", f"{secs(t)} ({count / t:,.0f} lines/s)", "-", None,
                        "100k lines < 0.5 s", per_100k < 0.5,
                        f"netrepl.script.check on {count:,} mixed lines; {per_100k:.3f} s per 100k lines "
                        f"(median wall; CPU {med(cpu) * 100_000 / count:.3f} s, fastest {min(times) * 100_000 / count:.3f} s)"))


# ----- the table ----------------------------------------------------------------------------

# ----- relay: netrepl relay -q vs socat TCP-LISTEN TCP ---------------------------------------
# One producer (bulk SIZE bytes a connection); between it and a Python recv_into sink stands
# `netrepl relay -q` (os.splice, no bytes shown or recorded) or `socat TCP-LISTEN:P TCP:...`,
# each started before the clock runs. The producer times each connection from accept() until
# the sink closed after the last byte, i.e. the transfer through the relay; rounds alternate.

def _relay_sink(port: int) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        b = bytearray(1 << 20)
        while s.recv_into(b):
            pass


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} did not listen on {port}") from None
            time.sleep(0.005)


def bench_relay(ctx: Context, size: int) -> None:
    print(f"relay: {size / GIB:g} GiB through netrepl relay -q vs socat TCP-LISTEN TCP", flush=True)
    socat = shutil.which("socat")
    if socat is None:
        ctx.note("socat not found: relay vs socat skipped (apt-get install socat)")
        return
    if run(ctx.netrepl + ["-q", "-c", "help relay"], ctx).rc != 0:
        ctx.note("relay skipped: this netrepl has no relay (branch i18-relay)")
        return
    # "netrepl shown": without -q, each chunk an event and the terminal's lines (to /dev/null here),
    # summarised after the first 4 KiB: what showing costs (report only).
    times: dict[str, list[float]] = {"netrepl": [], "socat": [], "netrepl shown": []}
    with Producer(ctx, "bulk", "--bytes", str(size)) as prod:
        for _ in range(ctx.n(5, 3)):
            for name in times:
                if name.startswith("netrepl"):
                    quiet = ["-q"] if name == "netrepl" else []
                    argv = ctx.netrepl + ["relay", *quiet, "0", "127.0.0.1", str(prod.port)]
                    relay = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, env=ctx.env)
                    first = relay.stderr.readline().decode()
                    m = re.search(r"127\.0\.0\.1:(\d+)", first)
                    if m is None:
                        relay.kill()
                        relay.wait()
                        raise RuntimeError(f"netrepl relay did not start: {first!r}")
                    lport = int(m.group(1))
                else:
                    lport = _free_port()
                    relay = subprocess.Popen([socat, f"TCP-LISTEN:{lport},bind=127.0.0.1,reuseaddr",
                                              f"TCP:127.0.0.1:{prod.port}"], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ctx.env)
                    deadline = time.monotonic() + 30  # socat serves one connection: no probe, wait for the port
                    while not os.path.exists("/proc/net/tcp") or f":{lport:04X} 00000000:0000 0A" not in \
                            Path("/proc/net/tcp").read_text():
                        if time.monotonic() > deadline or relay.poll() is not None:
                            raise RuntimeError("socat did not listen")
                        time.sleep(0.005)
                try:
                    _relay_sink(lport)
                    times[name].append(prod.transfer_time())
                finally:
                    if relay.poll() is None:
                        relay.terminate()
                    relay.wait(30)
                    if relay.stderr is not None:
                        relay.stderr.close()
    ctx.raw["relay"] = times
    r = paired(times["netrepl"], times["socat"])
    ctx.rows.append(Row(f"relay -q {size / GIB:g} GiB", rate(size, med(times["netrepl"])),
                        f"socat TCP-LISTEN TCP: {rate(size, med(times['socat']))}", r, "<= 1.0", r <= 1.0,
                        "the transfer as the producer saw it, through the relay (os.splice) or socat"))
    r = paired(times["netrepl shown"], times["socat"])
    ctx.rows.append(Row(f"relay shown {size / GIB:g} GiB", rate(size, med(times["netrepl shown"])),
                        f"socat TCP-LISTEN TCP: {rate(size, med(times['socat']))}", r, "report", None,
                        "without -q: each 64 KiB chunk an event, shown (summarised after 4 KiB) to /dev/null"))


def verdict(row: Row) -> str:
    return "report" if row.ok is None else ("ok" if row.ok else "MISSED")


def table(rows: list[Row], markdown: bool) -> str:
    head = ["benchmark", "netrepl", "reference", "ratio", "target", "verdict"]
    body = [[r.name, r.netrepl, r.reference, f"{r.ratio:.2f}" if r.ratio is not None else "-", r.target,
             verdict(r)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*row) for row in body]
    return "\n".join(out)


BENCHES = ("startup", "installed", "shell", "bulk", "tls", "sendfile", "accept", "commands", "render", "replay", "relay")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (a smoke run)")
    p.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--skip", default="", help="comma-separated benchmarks to leave out (e.g. installed: "
                   "it builds a wheel and a venv first)")
    p.add_argument("--rounds", type=int, help="rounds per figure (default depends on the figure)")
    p.add_argument("--bulk-mib", type=int, help="bulk receive size in MiB (default 2048, quick 256)")
    p.add_argument("--sendfile", action="store_true", help="bulk: the old producer (sendfile from tmpfs), "
                   "to compare")
    p.add_argument("--send-mib", type=int, help="`send < FILE` size in MiB (default 2048, quick 256)")
    p.add_argument("--tls-mib", type=int, help="bulk receive over TLS size in MiB (default 1024, quick 128)")
    p.add_argument("--pairs", type=int, help="send+recv pairs (default 5000, quick 1000)")
    p.add_argument("--render-mib", type=int, help="rendering size in MiB (default 64, quick 8)")
    p.add_argument("--lines", type=int, help="replay script lines (default 100000, quick 20000)")
    p.add_argument("--relay-mib", type=int, help="relay size in MiB (default 1024, quick 256)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (docs/bench.md)")
    p.add_argument("--json", metavar="PATH", help="also write every sample to PATH")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--tree", type=Path, help="measure the netrepl package in this source tree (e.g. an older "
                   "commit unpacked with git archive) instead of the installed one")
    args = p.parse_args(argv)
    if args.tree is not None:
        global TREE
        args.tree = args.tree.resolve()
        if not (args.tree / "netrepl" / "cli.py").exists():
            p.error(f"--tree {args.tree}: no netrepl/cli.py there")
        TREE = args.tree
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    unknown = (set(only) | skip) - set(BENCHES)
    only = [name for name in only if name not in skip]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    q = args.quick
    with tempfile.TemporaryDirectory(prefix="netrepl-bench-") as tmp:
        tmp_path = Path(tmp)
        netrepl, shown = find_netrepl(args.tree)
        ctx = Context(quick=q, rounds=args.rounds, tmp=tmp_path, env=child_env(tmp_path), netrepl=netrepl)
        print(f"netrepl: {shown}\npython: {PY} {sys.version.split()[0]}; {os.cpu_count()} CPUs; "
              f"{'quick' if q else 'full'} run", flush=True)
        started = time.perf_counter()
        load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        steps = {
            "startup": lambda: bench_startup(ctx),
            "installed": lambda: bench_installed(ctx),
            "shell": lambda: bench_shell(ctx),
            "bulk": lambda: bench_bulk(ctx, (args.bulk_mib or (256 if q else 2048)) * MIB, args.sendfile),
            "sendfile": lambda: bench_sendfile(ctx, (args.send_mib or (256 if q else 2048)) * MIB),
            "accept": lambda: bench_accept(ctx),
            "tls": lambda: bench_tls(ctx, (args.tls_mib or (128 if q else 1024)) * MIB),
            "commands": lambda: bench_commands(ctx, args.pairs or (1000 if q else 5000)),
            "render": lambda: bench_render(ctx, (args.render_mib or (8 if q else 64)) * MIB),
            "replay": lambda: bench_replay(ctx, args.lines or (20_000 if q else 100_000)),
            "relay": lambda: bench_relay(ctx, (args.relay_mib or (256 if q else 1024)) * MIB),
        }
        failed = []
        for name in only:
            try:
                steps[name]()
            except Exception as exc:  # one broken figure must not hide the others
                failed.append(name)
                ctx.note(f"{name} failed: {exc}")
        print(f"\n{table(ctx.rows, args.markdown)}\n")
        for row in ctx.rows:
            if row.note:
                print(f"- {row.name}: {row.note}")
        for text in ctx.notes:
            print(f"- note: {text}")
        load = ""
        if load_before is not None:
            load = f"; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
        print(f"({time.perf_counter() - started:.0f} s{load})")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rows": [r.__dict__ for r in ctx.rows], "notes": ctx.notes, "samples": ctx.raw,
                           "quick": q, "python": sys.version}, f, indent=1)
    missed = [r.name for r in ctx.rows if r.ok is False]
    if failed:
        return 2
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
