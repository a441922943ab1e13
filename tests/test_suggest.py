"""Completion: the pure suggestion step (netrepl.shell.suggest.suggest) and the
prompt_toolkit completer built on it, called directly without a terminal."""

from __future__ import annotations

import io
import os
import time

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from netrepl.commands import REGISTRY
from netrepl.shell.completer import NetreplCompleter
from netrepl.core.errors import FAILURE_NAMES
from netrepl.core.executor import Executor
from netrepl.shell import Shell
from netrepl.shell.suggest import SERVICES_FILE, service_names, suggest

COMPLETER = NetreplCompleter(REGISTRY)


def completions(text: str, completer=COMPLETER, cursor: int | None = None):
    doc = Document(text, len(text) if cursor is None else cursor)
    return list(completer.get_completions(doc, CompleteEvent()))


def words(text: str, completer=COMPLETER, cursor: int | None = None) -> list[str]:
    return [c.text for c in completions(text, completer, cursor)]


def applied(text: str, completer=COMPLETER) -> list[str]:
    """The line after accepting each completion (start_position replaces the word typed so far)."""
    return [text[:len(text) + c.start_position] + c.text for c in completions(text, completer)]


def services_from_file(path: str = SERVICES_FILE) -> set[str]:
    """Service names and aliases, read here independently of netrepl."""
    names = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split("#")[0].split()
            if len(fields) >= 2 and "/" in fields[1]:
                names.update([fields[0], *fields[2:]])
    return names


# ----- command names ----------------------------------------------------------------

def test_first_word_is_a_command_from_the_registry():
    s = suggest("", REGISTRY)
    assert s.kind == "command" and s.word == ""
    assert set(s.words) == set(REGISTRY.all_names())
    assert set(words("")) == set(REGISTRY.all_names())


@pytest.mark.parametrize("name", REGISTRY.all_names())
def test_every_command_completes_from_a_prefix(name):
    for n in range(1, len(name) + 1):
        prefix = name[:n]
        got = words(prefix)
        assert name in got
        assert all(w.startswith(prefix) for w in got)
        assert set(got) == {w for w in REGISTRY.all_names() if w.startswith(prefix)}
    assert name in words("  " + name[:1])  # indented


def test_command_completions_replace_the_typed_prefix_and_show_help():
    got = {c.text: c for c in completions("co")}
    assert list(got) == ["connect"]
    c = got["connect"]
    assert c.start_position == -2
    assert c.display_meta_text.startswith(REGISTRY.get("connect").help[:20])
    assert applied("co") == ["connect"]
    assert words("c") == sorted(w for w in REGISTRY.all_names() if w.startswith("c"))


def test_unknown_command_gets_nothing_after_it():
    assert suggest("nosuch ", REGISTRY).kind == "none"
    assert words("nosuch a") == []


# ----- keyword arguments -------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("socket in", ["inet", "inet6"]),
    ("socket ", ["inet", "inet6", "unix"]),
    ("socket inet u", ["udp"]),
    ("socket inet6 ", ["tcp", "udp"]),
    ("shutdown r", ["rd", "rdwr"]),
    ("shutdown w", ["wr"]),
    ("shutdown ", ["0", "1", "2", "rd", "wr", "rdwr"]),
    ("recv a", ["all"]),
    ("recv l", ["line"]),
    ("recv all ", [">"]),
    ("set ", ["eol", "display", "live", "var", "tls", "proxy", "proxy-protocol", "redact"]),
    ("set e", ["eol"]),
    ("set eol c", ["crlf"]),
    ("set eol ", ["crlf", "lf", "none"]),
    ("set display h", ["hex"]),
    ("timeout n", ["none"]),
    ("lookup http u", ["udp"]),
    ("serve e", ["echo"]),
    ("serve echo 0 ", ["tcp", "udp"]),
    ("record st", ["stop"]),
    ("send ", ["-n", "-x", "<"]),
    ("must-fail re", ["refused", "reset"]),
    ("must-fail refused con", ["connect"]),
    ("must-fail refused shutdown r", ["rd", "rdwr"]),
    ("must-fail  any   set eol l", ["lf"]),
    ("must-fail any must-fail refused con", ["connect"]),
    ("help re", ["record", "recv", "recvfrom", "relay", "reply", "resolve", "reverse"]),
])
def test_keyword_arguments(text, expected):
    assert words(text) == expected


def test_keyword_words_come_from_the_registry():
    """Every choice of every argument is offered somewhere: nothing is hard-coded in the completer."""
    for cmd in REGISTRY:
        for spec in [cmd, *cmd.subcommands.values()]:
            for i, arg in enumerate(spec.args):
                if not arg.choices or arg.type.name == "failure":
                    continue
                head = [spec.name] + [a.choices[0] for a in spec.args[:i] if a.choices]
                if len(head) != i + 1:
                    continue  # earlier arguments without fixed words: covered by the cases above
                offered = words(" ".join(head) + " ")
                assert set(arg.choices) <= set(offered), (spec.name, arg.name, offered)


def test_must_fail_offers_every_failure_kind():
    s = suggest("must-fail ", REGISTRY)
    assert s.kind == "words" and set(s.words) == set(FAILURE_NAMES)
    assert words("must-fail ") == list(FAILURE_NAMES)


def test_keyword_completion_labels_name_the_argument():
    assert {c.display_meta_text for c in completions("shutdown ")} == {"HOW"}
    assert {c.display_meta_text for c in completions("socket ")} == {"FAMILY"}


def test_completion_uses_the_text_before_the_cursor():
    text = "socket inet u"
    assert words(text, cursor=len("socket in")) == ["inet", "inet6"]
    assert words(text, cursor=len("soc")) == ["socket"]


def test_nothing_to_complete_inside_free_text():
    for text in ["send hello w", "send -n x", "print some t", "expect -m HT", "set var NAME va"]:
        assert words(text) == [], text
        assert suggest(text, REGISTRY).kind == "none"


# ----- services ---------------------------------------------------------------------

@pytest.fixture
def services():
    if not os.path.exists(SERVICES_FILE):
        pytest.skip(f"no {SERVICES_FILE} on this machine")
    return services_from_file()


def test_service_names_come_from_the_services_database(services):
    assert set(service_names()) == services
    assert "http" in services  # the database the worksheet relies on


@pytest.mark.parametrize("text", ["connect localhost ht", "connect 127.0.0.1 ht", "bind 127.0.0.1 ht",
                                  "sendto localhost ht", "sendto -n localhost ht", "must-fail refused connect localhost ht"])
def test_port_position_completes_service_names(services, text):
    got = words(text)
    assert "http" in got and "https" in got
    assert set(got) == {name for name in services if name.startswith("ht")}
    assert all(c.start_position == -2 for c in completions(text))


def test_lookup_completes_services_and_every_service_is_reachable(services):
    assert set(words("lookup ")) == services
    assert set(words("connect localhost ")) == services
    s = suggest("connect localhost d", REGISTRY)
    assert s.kind == "service" and s.word == "d"


def test_service_names_of_a_missing_file_is_empty(tmp_path):
    assert service_names(str(tmp_path / "none")) == ()


def test_service_names_reads_aliases_and_skips_comments(tmp_path):
    path = tmp_path / "services"
    path.write_text("# comment line\nfoo\t\t1/tcp\t\tfoo-alias other # trailing comment words\n"
                    "bar 2/udp\nnot-a-service-line\nbaz notaport\n")
    assert service_names(str(path)) == ("bar", "foo", "foo-alias", "other")


# ----- hosts ------------------------------------------------------------------------

def test_host_position_offers_hosts_used_earlier_then_loopback():
    completer = NetreplCompleter(REGISTRY, hosts=lambda: ["db.invalid", "localhost", "web.invalid"])
    got = words("connect ", completer)
    assert got[:3] == ["db.invalid", "localhost", "web.invalid"]
    assert "127.0.0.1" in got and "::1" in got
    assert len(got) == len(set(got))  # localhost only once
    assert words("connect d", completer) == ["db.invalid"]
    assert words("sendto w", completer) == ["web.invalid"]
    assert words("bind 1", completer) == ["127.0.0.1"]
    assert words("must-fail refused connect d", completer) == ["db.invalid"]
    s = suggest("connect d", REGISTRY)
    assert s.kind == "host" and s.word == "d"


def test_hosts_callable_is_asked_each_time():
    seen = []
    completer = NetreplCompleter(REGISTRY, hosts=lambda: list(seen))
    assert words("connect d", completer) == []
    seen.append("db.invalid")
    assert words("connect d", completer) == ["db.invalid"]


@pytest.fixture
def shell_with_history():
    history = InMemoryHistory(["connect db.invalid 5432", "send hello", "sendto udp.invalid 53 x",
                               "must-fail address connect gone.invalid 80", "connect $HOST 80"])
    with create_pipe_input() as pipe:
        shell = Shell(Executor(REGISTRY), history=history, input=pipe, output=DummyOutput(), out=io.StringIO())
        yield shell
        shell.ex.finish()


def test_shell_hosts_come_from_history(shell_with_history):
    shell = shell_with_history
    hosts = list(shell.hosts())
    assert set(hosts) == {"db.invalid", "udp.invalid", "gone.invalid"}  # not the unexpanded $HOST
    assert hosts.index("gone.invalid") < hosts.index("db.invalid")  # newest first
    completer = shell.prompt.completer
    assert words("connect d", completer) == ["db.invalid"]
    assert "db.invalid" in words("connect ", completer)


# ----- paths ----------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    (tmp_path / "script.nrs").write_text("info\n")
    (tmp_path / "second.nrs").write_text("info\n")
    (tmp_path / "out.bin").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_source_completes_paths(tree):
    base = f"source {tree}/"
    assert set(words(base)) == {"script.nrs", "second.nrs", "out.bin", "sub"}
    assert applied(base + "sc") == [base + "script.nrs"]
    assert set(applied(base + "s")) == {base + "script.nrs", base + "second.nrs", base + "sub"}
    assert suggest(base, REGISTRY).kind == "path"


@pytest.mark.parametrize("head", ["recv all > ", "recv all  >  ", "recv all >"])
def test_recv_all_redirect_completes_paths(tree, head):
    base = f"{head}{tree}/"
    assert set(words(base)) == {"script.nrs", "second.nrs", "out.bin", "sub"}
    assert applied(base + "o") == [base + "out.bin"]


def test_record_completes_paths_and_stop(tree):
    base = f"record {tree}/"
    assert "script.nrs" in words(base)
    assert words("record -e st") == ["stop"]


def test_relative_paths_complete_from_the_working_directory(tree, monkeypatch):
    monkeypatch.chdir(tree)
    assert set(applied("source s")) == {"source script.nrs", "source second.nrs", "source sub"}
    assert applied("source sc") == ["source script.nrs"]


def test_completion_menu_shows_history_hosts_escaped():
    """A host from history holding U+202E (right-to-left override) or ESC is shown escaped in the menu;
    what Tab inserts is the word itself (it is the user's own history)."""
    hostile = "evil\u202etxt.invalid"
    completer = NetreplCompleter(REGISTRY, hosts=lambda: [hostile, "e\x1b[2Jx.invalid"])
    got = completions("connect e", completer)
    shown = {c.text: c.display_text for c in got}
    assert shown[hostile] == "evil\\u202etxt.invalid"
    assert shown["e\x1b[2Jx.invalid"] == "e\\x1b[2Jx.invalid"
    assert all("\u202e" not in c.display_text and "\x1b" not in c.display_text for c in got)


def test_a_long_line_is_suggested_for_at_once():
    """The word at the cursor was found by a `[^ \\t]*$` search, quadratic in the line: a 64 kB
    pasted line froze the shell's completion for two minutes (20 kB: 5 s)."""
    started = time.monotonic()
    for line in ("send " + "x" * 20000 + " ", "connect " + "x" * 20000):
        suggest(line, REGISTRY)
    assert time.monotonic() - started < 2
