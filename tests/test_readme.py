"""The README is the user guide and docs/*.md its topic pages; what they show must be true.

The README opens with one sentence saying what netrepl is, then the two commands users run
(CI runs the same test line). Every transcript in the README and in docs/ (a ``` block of
`netrepl> ` lines) replays as shown; the command table names every command of the registry
and nothing else; relative links lead somewhere."""

import re
from pathlib import Path

import pytest

from conftest import run_cli
from netrepl.commands import REGISTRY
from netrepl.language.tokens import ParseError
from netrepl.language.parser import Parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def readme_opening() -> tuple[str, list[str]]:
    """The README's first line, and the lines of the fenced block that follows it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines[1:], 1) if line.strip())
    assert lines[start].startswith("```"), "the sentence must be followed by the two commands, fenced"
    end = lines.index("```", start + 1)
    return lines[0], lines[start + 1:end]


def test_readme_opens_with_one_sentence_saying_what_netrepl_is():
    first, _ = readme_opening()
    assert first.startswith("netrepl is "), first  # no heading, no fence, no badge before it
    assert first.endswith(".") and first.count(". ") == 0, "one sentence"
    assert "REPL" in first or "shell" in first


def test_readme_opens_with_install_demo_and_test_commands():
    _, commands = readme_opening()
    demo, test = commands
    assert "pip install" in demo and "netrepl scripts/" in demo
    assert "pip install" in test and "'.[test]'" in test and "pytest" in test
    for script in demo.split("netrepl ", 1)[1].split():
        assert (ROOT / script).is_file(), f"the demo names {script}, which does not exist"


def test_ci_runs_the_readme_test_command_exactly():
    _, (_, test) = readme_opening()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines


def test_the_pytest_extra_the_docs_offer_exists():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(req.startswith("pytest") for req in project["optional-dependencies"]["pytest"])
    assert project["entry-points"]["pytest11"] == {"netrepl": "netrepl.pytest_plugin"}
    for page in ("README.md", "docs/scripts.md"):
        assert "pip install 'netrepl[pytest]'" in (ROOT / page).read_text(), page


def fenced_blocks(path: Path) -> list[str]:
    blocks, current = [], None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("```"):  # fences open and close in turn
            if current is None:
                current = []
            else:
                blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def transcripts(path: Path) -> list[str]:
    return [block for block in fenced_blocks(path) if block.startswith("netrepl> ")]


ALL_TRANSCRIPTS = [(f"{page_name(path)}#{index}", block)
                   for path in PAGES for index, block in enumerate(transcripts(path))]


# What --stable masks, applied to the docs' text: loopback ports the OS chose (lab servers
# on port 0, local ports; 0.0.0.0 is an unbound UDP socket's local side), never a port
# below 1024 that a transcript names (`connect 127.0.0.1 1`), and timings.
_PORT = re.compile(r"\b(127\.0\.0\.1|0\.0\.0\.0|\[::1\]):[1-9]\d{3,4}\b")
_TIME = re.compile(r"\b\d+(?:\.\d+)? (?:us|ms|s)\b")


# Unix sockets: the peer's credentials and abstract names the kernel chose (5 hex digits).
_CRED = re.compile(r"\bpid \d+ uid \d+ gid \d+")
_AUTOBIND = re.compile(r"@[0-9a-f]{5}\b")


def masked(text: str) -> str:
    text = _AUTOBIND.sub("@<name>", _CRED.sub("pid <pid> uid <uid> gid <gid>", text))
    return _TIME.sub("<time>", _PORT.sub(r"\1:<port>", text))


def test_the_readme_and_docs_have_their_transcripts():
    shown = transcripts(ROOT / "README.md")
    assert len(shown) >= 2
    shutdown = next(block for block in shown if "shutdown 1" in block)
    assert shutdown.startswith("netrepl> serve echo 0\n")  # it used to leave its server out
    in_docs = [name for name, _ in ALL_TRANSCRIPTS if name.startswith("docs/")]
    assert {name.split("#")[0] for name in in_docs} >= {"docs/sockets.md", "docs/recording.md", "docs/lab.md"}


@pytest.mark.parametrize("block", [block for _, block in ALL_TRANSCRIPTS], ids=[name for name, _ in ALL_TRANSCRIPTS])
def test_a_transcript_replays_as_shown(block):
    commands = [line[len("netrepl> "):] for line in block.splitlines() if line.startswith("netrepl> ")]
    # --delay: typed by a person, each command comes a moment after the last (the peer's RST
    # reaches the socket before `shutdown 1`, as it does when the transcript is typed).
    p = run_cli("--stable", "--delay", "0.05", "-c", "\n".join(commands))
    assert "Traceback" not in p.stderr
    assert p.stdout == masked(block)


# ----- the command table ---------------------------------------------------------------

def command_table() -> list[list[str]]:
    """The README's command table: for each row, the code spans of its first cell."""
    section = (ROOT / "README.md").read_text().split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.findall(r"`([^`]+)`", re.split(r"(?<!\\)\|", row)[1]) for row in rows]


def _alternatives(word: str) -> list[str]:
    return word.strip("[]").replace("\\|", "|").split("|")


def test_every_command_of_the_registry_has_a_row_in_the_readme_table():
    spans = [span.split() for row in command_table() for span in row]
    named = {words[0] for words in spans}
    missing = [name for name in REGISTRY.names() if name not in named]
    assert not missing, f"add a row to the README's command table for: {', '.join(missing)}"
    for command in REGISTRY:
        if command.subcommands:
            shown = {alt for words in spans if words[0] == command.name and len(words) > 1
                     for alt in _alternatives(words[1])}
            missing = [f"{command.name} {sub}" for sub in command.subcommands if sub not in shown]
            assert not missing, f"the README's command table does not show: {', '.join(missing)}"


def test_the_readme_table_names_only_commands_that_exist():
    known = set(REGISTRY.all_names())
    for row in command_table():
        for span in row:
            assert span.split()[0] in known, f"the README's command table shows `{span}`: no such command"


# ----- what the pages name must exist ----------------------------------------------------

class _AnyVariable(dict):
    """Pages name variables that lab servers set; any value of the right shape parses."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return "/tmp/netrepl-doc.sock" if name.endswith("_path") else "7"


_PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]*\b|\.\.\.|\||\[|<[a-z]+>")


def concrete_command_lines(path: Path) -> list[str]:
    """Inline code on a page that is a whole command line with no placeholder (`set tls sni
    off`, not `set tls sni on|off` or `connect HOST PORT`); `a; b` (as -c takes it) is two."""
    names = set(REGISTRY.all_names())
    spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", path.read_text())
    lines = [part.strip() for span in spans if not _PLACEHOLDER.search(span) for part in span.split("; ")]
    return [line for line in lines if len(line.split()) > 1 and line.split()[0] in names]


# faults.md shows lines that are wrong on purpose (its table of bad input; tests/test_faults.py
# checks what netrepl says to each).
@pytest.mark.parametrize("path", [page for page in PAGES if page.name != "faults.md"], ids=page_name)
def test_every_command_line_a_page_shows_parses(path):
    parser = Parser(REGISTRY)
    bad = []
    for line in concrete_command_lines(path):
        try:
            parser.parse(line, _AnyVariable())
        except ParseError as exc:
            if "missing " not in str(exc):  # `record -p`, `must-fail lost`: a mention, not a line to type
                bad.append(f"`{line}`: {exc}")
    assert not bad, "\n".join(bad)


_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", PAGES, ids=page_name)
def test_relative_links_lead_to_files_that_exist(path):
    for target in _LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file = (path.parent / target.split("#", 1)[0]).resolve()
        assert file.exists(), f"{page_name(path)} links to {target}, which does not exist"


def test_the_exit_status_table_is_the_same_in_the_readme_and_docs_scripts():
    def table(path):
        lines = path.read_text().splitlines()
        start = lines.index("| exit | meaning |")
        end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
        return lines[start:end]

    assert table(ROOT / "README.md") == table(ROOT / "docs" / "scripts.md") != []


def test_the_readme_is_a_guide_of_at_most_450_lines_linking_every_topic_page():
    """Issue 16: the guide stays short and sends each topic to its page in docs/."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 450
    for page in ("tls", "scripts", "recording", "lab", "live", "faults", "bench", "develop"):
        assert f"](docs/{page}.md" in text, f"the README does not link docs/{page}.md"


def test_the_docs_say_where_history_is_and_the_plugins_options():
    from netrepl import pytest_plugin

    readme = (ROOT / "README.md").read_text()
    assert "NETREPL_HISTFILE" in readme and "~/.local/state/netrepl/history" in readme
    assert "history.interact" in (ROOT / "docs" / "live.md").read_text()

    class Options:  # collects the options the plugin registers, to find each in the docs
        def __init__(self):
            self.names = []

        def getgroup(self, *args):
            return self

        def addoption(self, *names, **kw):
            self.names.extend(names)

    options = Options()
    pytest_plugin.pytest_addoption(options)
    scripts = (ROOT / "docs" / "scripts.md").read_text()
    assert options.names
    for name in options.names:
        assert f"`{name}" in scripts or f" {name}" in scripts, f"docs/scripts.md does not name {name}"


def test_set_tls_sni_is_documented_as_the_parser_takes_it():
    """The README once showed `set tls ... sni VALUE` though only on/off parses."""
    readme = (ROOT / "README.md").read_text()
    assert "`set tls sni on\\|off`" in readme
    parser = Parser(REGISTRY)
    parser.parse("set tls sni off", {})
    with pytest.raises(ParseError):
        parser.parse("set tls sni example.com", {})
