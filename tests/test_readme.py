"""The README's first lines are the commands users run; CI must run the same test line.
Every transcript in it (a ``` block of `netrepl> ` lines) replays as shown."""

import re
from pathlib import Path

import pytest

from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("```"), "the README must open with the two commands"
    end = lines.index("```", 1)
    return lines[1:end]


def test_readme_opens_with_install_demo_and_test_commands():
    demo, test = readme_commands()
    assert "pip install" in demo and "netrepl scripts/" in demo
    assert "pip install" in test and "'.[test]'" in test and "pytest" in test
    for script in demo.split("netrepl ", 1)[1].split():
        assert (ROOT / script).is_file(), f"the demo names {script}, which does not exist"


def test_ci_runs_the_readme_test_command_exactly():
    _, test = readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines


def transcripts() -> list[str]:
    blocks, current = [], None
    for line in (ROOT / "README.md").read_text().splitlines(keepends=True):
        if line.startswith("```"):  # fences open and close in turn
            if current is None:
                current = []
            else:
                blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return [block for block in blocks if block.startswith("netrepl> ")]


# What --stable masks, applied to the README's text: loopback ports (the OS chose each of
# them: lab servers on port 0, local ports) and timings.
_PORT = re.compile(r"\b(127\.0\.0\.1|\[::1\]):\d+")
_TIME = re.compile(r"\b\d+(?:\.\d+)? (?:us|ms|s)\b")


# Unix sockets: the peer's credentials and abstract names the kernel chose (5 hex digits).
_CRED = re.compile(r"\bpid \d+ uid \d+ gid \d+")
_AUTOBIND = re.compile(r"@[0-9a-f]{5}\b")


def masked(text: str) -> str:
    text = _AUTOBIND.sub("@<name>", _CRED.sub("pid <pid> uid <uid> gid <gid>", text))
    return _TIME.sub("<time>", _PORT.sub(r"\1:<port>", text))


def test_the_readme_has_its_transcripts():
    shown = transcripts()
    assert len(shown) >= 2
    shutdown = next(block for block in shown if "shutdown 1" in block)
    assert shutdown.startswith("netrepl> serve echo 0\n")  # it used to leave its server out


@pytest.mark.parametrize("block", transcripts(), ids=lambda b: b.split("\n", 1)[0][9:])
def test_a_readme_transcript_replays_as_shown(block):
    commands = [line[len("netrepl> "):] for line in block.splitlines() if line.startswith("netrepl> ")]
    # --delay: typed by a person, each command comes a moment after the last (the peer's RST
    # reaches the socket before `shutdown 1`, as it does when the transcript is typed).
    p = run_cli("--stable", "--delay", "0.05", "-c", "\n".join(commands))
    assert "Traceback" not in p.stderr
    assert p.stdout == masked(block)
