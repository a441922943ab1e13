"""Argument types are the one source of truth: the parser, the whole-script check,
completion, the lexer and the validator all ask the same object, so they agree.

Each of the five disagreements issue 12 names is a test here, plus the forms
the types added (HOST:PORT, [v6], trailing comments, sendto flags).
"""

from __future__ import annotations

import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError
from pygments.token import Error, Keyword, Number

from conftest import run_cli
from netrepl.commands import REGISTRY
from netrepl.core.executor import Executor
from netrepl.language.argtypes import Choice, Int
from netrepl.language.parser import ParseError, Parser
from netrepl.language.registry import Arg, CommandSet, Registry
from netrepl.shell.lexer import NrsLexer
from netrepl.core.results import Result
from netrepl.shell.suggest import suggest
from netrepl.shell.validator import LineValidator

PARSER = Parser(REGISTRY)


def tokens(line: str):
    return [(t, v) for t, v in NrsLexer().get_tokens(line) if v.strip()]


# ----- the five symptoms ---------------------------------------------------------------

def test_a_kind_without_udp_is_rejected_before_the_script_runs(tmp_path):
    script = tmp_path / "s.nrs"
    script.write_text("print before\nserve http 0 udp\n")
    done = run_cli(str(script))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "before" not in done.stdout  # nothing ran
    assert "s.nrs:2:14: http has no UDP variant" in done.stderr


def test_help_set_completes_the_settings_not_the_commands():
    s = suggest("help set ", REGISTRY)
    assert s.kind == "words" and set(s.words) == {"eol", "display", "live", "var", "tls", "proxy", "proxy-protocol", "redact"}
    assert suggest("help recv ", REGISTRY).words == ()  # recv has no settings


@pytest.mark.parametrize("line, bad", [("shutdown 7", "7"), ("must-fail bogus info", "bogus"), ("recv 0", "0"),
                                       ("timeout -1", "-1"), ("serve http 0 udp", "udp")])
def test_the_lexer_marks_what_the_parser_rejects(line, bad):
    with pytest.raises(ParseError):
        PARSER.parse(line, {})
    assert (Error, bad) in tokens(line)


def test_a_number_is_a_number_not_a_keyword_of_another_command():
    assert (Number, "5") in tokens("recv 5")
    assert (Keyword.Constant, "1") in tokens("shutdown 1")  # a word of shutdown's own


def test_completion_after_a_quoted_argument():
    s = suggest('connect "a b" ', REGISTRY)
    assert s.kind == "service"
    assert suggest("connect 'x y' ht", REGISTRY).word == "ht"
    assert suggest('send "quoted text" ', REGISTRY).kind == "none"


def test_the_validator_marks_a_rejected_line_at_its_column_while_typing():
    validator = LineValidator(PARSER, {})
    with pytest.raises(ValidationError) as info:
        validator.validate(Document("shutdown 7 "))  # the word is finished: a blank follows it
    assert info.value.cursor_position == len("shutdown ")
    assert "column 10" in info.value.message and "expected 0|1|2|rd|wr|rdwr" in info.value.message
    validator.validate(Document("connect localhost"))  # unfinished, not wrong: unmarked
    validator.validate(Document("shutdown 1"))


def test_the_validator_leaves_the_word_being_typed_alone_until_it_is_finished():
    validator = LineValidator(PARSER, {})
    validator.validate(Document("sett"))  # the cursor is at its end: still being typed
    validator.validate(Document("shutdown 7"))
    for finished in (Document("sett "), Document("sett", cursor_position=2), Document("sett eol lf", 11)):
        with pytest.raises(ValidationError) as info:
            validator.validate(finished)
        assert "unknown command 'sett'" in info.value.message


def test_the_validator_reads_the_session_variables_live():
    variables: dict[str, str] = {}
    validator = LineValidator(PARSER, variables)
    with pytest.raises(ValidationError):
        validator.validate(Document("connect $h 80"))
    variables["h"] = "localhost"
    validator.validate(Document("connect $h 80"))


# ----- forms the types added ---------------------------------------------------------------

@pytest.mark.parametrize("line, host, port", [
    ("connect localhost:8080", "localhost", 8080),
    ("connect [::1]:8080", "::1", 8080),
    ("connect [::1] 8080", "::1", 8080),
    ("connect 127.0.0.1:http", "127.0.0.1", "http"),
    ("connect ::1 80", "::1", 80),
    ("bind 127.0.0.1:0", "127.0.0.1", 0),
])
def test_host_port_forms(line, host, port):
    args = PARSER.parse(line, {}).args
    assert (args["host"], args["port"]) == (host, port)


@pytest.mark.parametrize("line, words, col", [
    ("connect localhost:80 81", "unexpected argument '81'", 22),
    ("connect localhost:99999", "out of range", 19),
    ("connect localhost", "missing PORT", 18),
])
def test_host_port_mistakes(line, words, col):
    with pytest.raises(ParseError) as info:
        PARSER.parse(line, {})
    assert words in info.value.message and info.value.col == col


def test_connect_to_a_bracketed_ipv6_address_and_host_port(tmp_path, lab):
    server = lab("echo")
    done = run_cli("-c", f"connect 127.0.0.1:{server.port}; send -n hi; expect hi")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_trailing_comment_ends_the_words_but_not_text():
    assert PARSER.parse("lookup http tcp   # a comment", {}).args == {"service": "http", "proto": "tcp"}
    assert PARSER.parse("lookup http tcp   # a comment", {}).text == "lookup http tcp"
    nested = PARSER.parse("must-fail refused connect localhost 1  # why", {})
    assert nested.text == "must-fail refused connect localhost 1" and nested.args["command"].text.endswith(" 1")
    assert PARSER.parse("send a # b", {}).args["text"] == b"a # b"  # data, as typed
    assert PARSER.parse("print x #y", {}).args["text"] == "x #y"
    assert ("Comment.Single" in str(tokens("info # c")))


def test_sendto_adds_no_line_ending_unless_asked_and_takes_flags_before_the_data():
    assert PARSER.parse("sendto localhost 53 -n abc", {}).args["text"] == b"abc"
    assert PARSER.parse("sendto localhost 53 -n abc", {}).flags == frozenset({"-n"})
    assert PARSER.parse("sendto -l localhost 53 abc", {}).flags == frozenset({"-l"})


def test_sendto_sends_exactly_the_datagram(lab):
    server = lab("echo", proto="udp")
    done = run_cli("-c", f"sendto 127.0.0.1 {server.port} \\x01\\x02; recvfrom; "
                         f"sendto -l 127.0.0.1 {server.port} x; recvfrom")
    assert done.returncode == 0, done.stderr
    assert "sent 2 bytes" in done.stdout and "sent 3 bytes" in done.stdout


def test_sendto_takes_host_port_in_one_word_as_connect_does(lab):
    """`sendto 127.0.0.1:53 hello` took `hello` for the port (a service lookup error, after
    creating an inet6 socket for the colon)."""
    args = PARSER.parse("sendto [::1]:53 -n abc", {}).args
    assert (args["host"], args["port"], args["text"], args["source"]) == ("::1", 53, b"abc", None)
    server = lab("echo", proto="udp")
    done = run_cli("-c", f"sendto 127.0.0.1:{server.port} hello; recvfrom")
    assert done.returncode == 0, done.stderr
    assert "created inet udp socket" in done.stdout and "sent 5 bytes" in done.stdout


# ----- the registry is the executor's, not a global ---------------------------------------------

def test_an_executor_runs_a_small_registry_of_its_own():
    commands = CommandSet()

    @commands.command("twice", Arg("N", Int(minimum=1), "n"), Arg("HOW", Choice(("up", "down")), "how",
                                                                     optional=True, default="up"),
                      help="a test command")
    def _twice(ex, a, flags):
        return Result().say(f"{a['n'] * 2} {a['how']}")

    ex = Executor(Registry(commands))
    try:
        (step,) = ex.run_line("twice 21 down")
        assert step.result.ok and step.result.lines == [("42 down",)]
        (step,) = ex.run_line("connect localhost 80")  # not in this registry
        assert step.result.error.kind == "syntax" and "unknown command 'connect'" in step.result.error.message
        # Completion and the lexer's words come from the same specs.
        assert suggest("twice 3 ", ex.registry).words == ("up", "down")
    finally:
        ex.finish()


def test_a_registry_loads_its_areas_in_order_only_as_far_as_a_name_needs():
    from netrepl.language.argtypes import Int
    from netrepl.language.registry import Arg, CommandSet, Registry

    loaded = []

    def area(name, *commands, group=None, subs=()):
        def load():
            loaded.append(name)
            s = CommandSet()
            for c in commands:
                s.command(c, Arg("N", Int(), "n"), help=c)(lambda ex, a, f: None)
            if group:
                s.group(group, help=group)
            for parent, sub in subs:
                s.sub(parent, sub, help=sub)(lambda ex, a, f: None)
            return s
        return load

    reg = Registry(area("a", "one", group="set", subs=[("set", "x")]), area("b", "two"),
                   area("c", "three", subs=[("set", "late")]))
    assert loaded == []
    assert reg.get("one").name == "one" and loaded == ["a"]
    assert reg.get("two").name == "two" and loaded == ["a", "b"]
    assert set(reg.get("set").subcommands) == {"x", "late"} and loaded == ["a", "b", "c"]  # a group loads all
    assert reg.get("nope") is None


def test_an_unknown_name_loads_every_area_and_names_come_in_declared_order():
    from netrepl.commands import AREAS
    from netrepl.language.registry import Registry

    registry = Registry(*AREAS)
    assert registry.get("no-such-command") is None
    assert registry._pending == []
    declared = [c.name for load in AREAS for c in load().commands]
    assert registry.names() == declared and declared[:3] == ["socket", "lookup", "connect"]
