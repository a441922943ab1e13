"""The command language: every registered command parses its documented forms,
and every mistake is a ParseError pointing at the right (1-based) column.

The per-command tests iterate the registry, so a new command is covered
without touching this file: its help and usage must exist, an example line
built from its Arg specs must parse, and each required argument, bad value
and surplus word must be reported where it is.
"""

from __future__ import annotations

import errno

import pytest

from netrepl.commands import MAX_RECV, REGISTRY
from netrepl.core.errors import FAILURE_NAMES
from netrepl.language.parser import MAX_LINE, ParseError, Parser
from netrepl.language.registry import Arg, Command
from netrepl.shell.lexer import line_tokens
from netrepl.shell.suggest import suggest

PARSER = Parser(REGISTRY)
VARS = {"HOST": "localhost", "PORT": "8080", "EMPTY": "", "SPACED": "a  b", "BS": "\\q"}


def parse(line, variables=VARS):
    return PARSER.parse(line, variables)


def error(line, variables=VARS) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(line, variables)
    return info.value


def at(line: str, text: str, nth: int = 0) -> int:
    """1-based column of the nth occurrence of `text` in `line`."""
    col = -1
    for _ in range(nth + 1):
        col = line.index(text, col + 1)
    return col + 1


# ----- examples built from the registry ---------------------------------------

def specs() -> list[Command]:
    """Every command as it parses: a command, or each of its sub-commands."""
    out = []
    for cmd in REGISTRY:
        out.extend(cmd.subcommands.values() if cmd.subcommands else [cmd])
    return out


SPEC_IDS = [spec.name for spec in specs()]

# A valid word for each argument type, and the value a handler receives for it.
SAMPLES = {
    "int": ("7", 7),
    "port": ("8080", 8080),
    "float": ("1.5", 1.5),
    "str": ("hello", "hello"),
    "host": ("localhost", "localhost"),
    "address": ("192.0.2.1", "192.0.2.1"),  # an IP address only (set proxy-protocol)
    "path": ("out.nrs", "out.nrs"),
    "var": ("NAME", "NAME"),
    "amount": ("7", 7),
    "failure": ("refused", "refused"),
}
REST_SAMPLES = {  # rest-of-line text, and what it becomes
    "escaped": ("a b\\r\\n", b"a b\r\n"),
    "hex": ("16 03 01", b"\x16\x03\x01"),
    "expect": ("200 OK", lambda got: got.kind == "text" and got.literal == b"200 OK"),
    "str": ("some  words", "some  words"),
    "command": ("info", lambda got: got.command is REGISTRY.get("info") and got.text == "info"),
}
# Arguments whose valid words depend on the registry, not on their type.
OVERRIDES = {("help", "command"): ("set", "set"), ("help", "setting"): ("eol", "eol"),
             ("recv", "n"): ("exactly", "exactly")}  # the word that AMOUNT and `> PATH` both follow
# Bad words for typed arguments (None: anything non-empty is accepted).
BAD = {"int": "x1", "port": "9z", "float": "abc", "var": "1bad", "failure": "bogus", "choice": "bogus"}


def sample(arg: Arg) -> tuple[str, object]:
    kind = arg.type.name
    if arg.rest:
        return REST_SAMPLES[kind]
    if kind == "choice" or (arg.choices and kind not in ("path", "failure", "port")):
        choice = arg.choices[0]
        return choice, arg.type.words[choice]
    word, value = SAMPLES[kind]
    if kind in ("int", "float"):
        low = arg.type.minimum if arg.type.minimum is not None else 0
        high = arg.type.maximum if arg.type.maximum is not None else 1e9
        if not low <= value <= high:
            value = type(value)(max(low, min(high, 1)))
            word = str(value)
    return word, value


def example(spec: Command, optional: bool = True, flags=frozenset()) -> tuple[str, dict]:
    """A line using every argument (or only the required ones) and the args it should give
    (with `flags`: as those flags make the arguments read, e.g. `send -x HEX`)."""
    words, expected = [spec.name], {}
    from_file = False  # `send < PATH`: the file is the payload, so the TEXT after it is left out
    for arg in spec.args:
        arg = arg.for_flags(flags)
        if not arg.type.applies(expected):  # `recv 2048` has no AMOUNT: it is not in the args
            continue
        if arg.rest and from_file:
            expected[arg.key] = arg.default
            continue
        if arg.type.name == "redirect":
            if optional and not (flags and arg.type.symbol == "<"):  # a file payload takes no flags
                words += [arg.type.symbol, "out.bin"]
                expected[arg.key] = "out.bin"
                from_file = arg.type.symbol == "<"
            else:
                expected[arg.key] = None
            continue
        if arg.optional and not optional:
            expected[arg.key] = arg.default
            continue
        word, value = OVERRIDES.get((spec.name, arg.key)) or sample(arg)
        words.append(word)
        expected[arg.key] = value
    return " ".join(words), expected


def check_args(parsed, expected):
    for key, value in expected.items():
        got = parsed.args[key]
        if callable(value):
            assert value(got), (key, got)
        else:
            assert got == value, key


@pytest.mark.parametrize("spec", specs(), ids=SPEC_IDS)
def test_every_command_has_help_and_a_usage_naming_its_arguments(spec):
    assert spec.help.strip()
    usage = spec.usage()
    assert usage.split()[0] == spec.name.split()[0]
    for flag in spec.flags:
        assert f"[{flag}]" in usage
    for arg in spec.args:
        assert arg.usage() in usage
        if arg.optional:
            assert f"[{arg.usage().strip('[]')}]" in usage


@pytest.mark.parametrize("spec", specs(), ids=SPEC_IDS)
def test_every_command_parses_its_full_and_minimal_forms(spec):
    for optional in (True, False):
        line, expected = example(spec, optional)
        parsed = parse(line)
        assert parsed is not None, line
        assert parsed.command is spec
        assert parsed.text == line
        assert parsed.flags == frozenset()
        check_args(parsed, expected)
        # Indentation and trailing blanks do not change what is parsed.
        again = parse("  \t" + line + " \t")
        assert again.command is spec and again.text == line


@pytest.mark.parametrize("spec", specs(), ids=SPEC_IDS)
def test_every_choice_of_every_argument_parses_to_its_value(spec):
    for i, arg in enumerate(spec.args):
        if arg.type.name in ("failure", "redirect") or arg.rest:
            continue
        for choice in arg.choices:
            words = [spec.name]
            for other in spec.args[:i]:
                if not other.rest and other.type.name != "redirect":
                    words.append(sample(other)[0])
            words.append(choice)
            for other in spec.args[i + 1:]:
                if not other.optional:
                    words.append(sample(other)[0])
            parsed = parse(" ".join(words))
            assert parsed.args[arg.key] == arg.type.words[choice]


@pytest.mark.parametrize("spec", [s for s in specs() if s.flags], ids=lambda s: s.name)
def test_every_flag_parses(spec):
    name_len = len(spec.name)
    for flag in spec.flags:
        line, expected = example(spec, flags={flag})
        parsed = parse(line[:name_len] + " " + flag + line[name_len:])
        assert parsed.flags == frozenset({flag})
        check_args(parsed, expected)


@pytest.mark.parametrize("spec", [s for s in specs() if any(not a.optional for a in s.args)],
                         ids=lambda s: s.name)
def test_a_missing_required_argument_is_reported_at_the_end_of_the_line(spec):
    line, _ = example(spec, optional=False)
    words = line.split(" ")
    # Drop the last required word: the error points just past the line and names what is missing.
    last_required = max(i for i, a in enumerate(spec.args) if not a.optional)
    short = spec.name + "".join(" " + sample(a)[0] for a in spec.args[:last_required] if not a.optional)
    assert len(short.split(" ")) < len(words)
    exc = error(short)
    assert exc.col == len(short) + 1
    assert spec.args[last_required].name in exc.message


@pytest.mark.parametrize("spec", [s for s in specs() if not any(a.rest for a in s.args)], ids=lambda s: s.name)
def test_a_surplus_argument_is_reported_at_its_column(spec):
    line, _ = example(spec)
    extra = line + "  surplus"
    exc = error(extra)
    assert exc.col == at(extra, "surplus")
    assert "surplus" in exc.message and spec.usage().splitlines()[0] in exc.message


@pytest.mark.parametrize("spec", specs(), ids=SPEC_IDS)
def test_a_badly_typed_argument_is_reported_at_its_column(spec):
    for i, arg in enumerate(spec.args):
        if arg.rest or arg.type.name not in BAD:
            continue
        words = [spec.name] + [sample(a)[0] for a in spec.args[:i] if not a.rest and a.type.name != "redirect"]
        prefix = " ".join(words) + " "
        line = prefix + BAD[arg.type.name]
        exc = error(line)
        assert exc.col == len(prefix) + 1, (line, exc.message)
        assert arg.name in exc.message, exc.message


# ----- commands by name -------------------------------------------------------

@pytest.mark.parametrize("name", REGISTRY.all_names())
def test_a_misspelt_command_suggests_the_close_name(name):
    line = "  " + name + "z 1 2"
    exc = error(line)
    assert exc.col == 3
    target = REGISTRY.get(name).name if name in REGISTRY.names() else name
    assert f"did you mean {target!r}" in exc.message
    assert "help" in exc.message


def test_unknown_command_far_from_any_name_gets_no_guess():
    exc = error("zzqqxx")
    assert exc.col == 1 and "unknown command 'zzqqxx'" in exc.message and "did you mean" not in exc.message


def test_aliases_parse_as_their_command():
    for cmd in REGISTRY:
        for alias in cmd.aliases:
            assert parse(alias).command is cmd


# ----- quotes and variables ---------------------------------------------------

def test_double_and_single_quotes_group_words():
    assert parse('connect "local host" 80').args["host"] == "local host"
    assert parse("connect 'a b' 80").args["host"] == "a b"
    assert parse("connect a\"b c\"d'e f' 80").args["host"] == "ab cde f"
    exc = error('connect "" 80')
    assert "empty" in exc.message and exc.col == 9


def test_variables_expand_in_double_quotes_but_not_single():
    assert parse('connect "x$HOST" 80').args["host"] == "xlocalhost"
    assert parse("connect '$HOST' 80").args["host"] == "$HOST"
    assert parse("connect '${NOPE' 80").args["host"] == "${NOPE"


@pytest.mark.parametrize("quote", ['"', "'"])
def test_unterminated_quote_points_at_the_quote(quote):
    line = f"connect {quote}local host 80"
    exc = error(line)
    assert exc.col == at(line, quote)
    assert f"unterminated {quote}" in exc.message


def test_variable_forms():
    assert parse("connect $HOST $PORT").args == {"host": "localhost", "port": 8080}
    assert parse("connect ${HOST} ${PORT}").args == {"host": "localhost", "port": 8080}
    assert parse("connect ${NOPE:-example.invalid} ${NOPE2:-7}").args == {"host": "example.invalid", "port": 7}
    assert parse("connect ${HOST:-other} 1").args["host"] == "localhost"
    assert parse("print a$$b").args["text"] == "a$b"
    assert parse("print $$HOST").args["text"] == "$HOST"
    assert parse("print ${HOST}x").args["text"] == "localhostx"
    assert parse("print $HOST.x").args["text"] == "localhost.x"
    # A value's blanks are data: the variable stays one argument.
    assert parse("connect $SPACED 1").args["host"] == "a  b"


def test_default_replaces_an_empty_value_as_in_the_shell():
    assert parse("connect ${EMPTY:-fallback} 1").args["host"] == "fallback"
    assert parse("print [${EMPTY}]").args["text"] == "[]"
    assert parse("print [$EMPTY]").args["text"] == "[]"
    assert parse("print [${NOPE:-}]").args["text"] == "[]"


@pytest.mark.parametrize("line, ref", [
    ("connect $NOPE 80", "$NOPE"),
    ("connect localhost ${NOPE}", "${NOPE}"),
    ('connect "x $NOPE" 80', "$NOPE"),
    ("send abc $NOPE def", "$NOPE"),
    ("print ok $HOST then $NOPE", "$NOPE"),
    ("must-fail any connect $HOST $NOPE", "$NOPE"),
])
def test_undefined_variable_points_at_its_dollar(line, ref):
    exc = error(line)
    assert exc.col == at(line, ref)
    assert "undefined variable $NOPE" in exc.message
    assert "-D NOPE=" in exc.message


@pytest.mark.parametrize("line, bad", [
    ("connect ${ 80", "${"),
    ("print abc ${", "${"),
    ("print x${1x}", "${"),
    ("print ${HOST", "${"),
    ("send ok ${HOST:-x", "${"),
])
def test_malformed_braces_point_at_them(line, bad):
    exc = error(line)
    assert exc.col == at(line, bad)
    assert "${" in exc.message


def test_variables_from_the_executor_mapping_are_read_live():
    variables = {}
    with pytest.raises(ParseError):
        PARSER.parse("connect $H 1", variables)
    variables["H"] = "h.invalid"
    assert PARSER.parse("connect $H 1", variables).args["host"] == "h.invalid"


# ----- send text: escapes and blanks ----------------------------------------------

@pytest.mark.parametrize("text, data", [
    ("\\r", b"\r"), ("\\n", b"\n"), ("\\t", b"\t"), ("\\0", b"\0"), ("\\e", b"\x1b"), ("\\\\", b"\\"),
    ("\\x41", b"A"), ("\\xff", b"\xff"), ("\\x0A\\x0d", b"\n\r"), ("a\\\\q", b"a\\q"),
    ("GET / HTTP/1.0\\r\\n", b"GET / HTTP/1.0\r\n"), ("caf\u00e9", "caf\u00e9".encode()),
    ("$HOST\\r\\n", b"localhost\r\n"), ("$$\\x24", b"$$"),
])
def test_send_escapes(text, data):
    parsed = parse("send -n " + text)
    assert parsed.args["text"] == data
    assert parse("sendto -n localhost 7 " + text).args["text"] == data


@pytest.mark.parametrize("line, bad, words", [
    ("send \\xZZ", "\\xZZ", "two hex digits"),
    ("send ab\\x4", "\\x4", "two hex digits"),
    ("send a \\x4g b", "\\x4g", "two hex digits"),
    ("send \\q", "\\q", "unknown escape \\q"),
    ("send ok \\r then \\u0041", "\\u", "unknown escape \\u"),
    ("send -n tail\\", "\\", "trailing backslash"),
    ("send ${HOST}\\q", "\\q", "unknown escape"),  # columns count the text as typed
    ("send $HOST x \\xZZ", "\\xZZ", "two hex digits"),
    ("sendto localhost 7 \\q", "\\q", "unknown escape"),
    ("expect HTTP\\q", "\\q", "unknown escape"),
    ("must-fail any send \\q", "\\q", "unknown escape"),
])
def test_bad_escapes_point_at_the_backslash(line, bad, words):
    exc = error(line)
    assert exc.col == at(line, bad), exc.message
    assert words in exc.message


def test_an_escape_error_inside_a_variable_value_points_at_the_variable():
    line = "send ok $BS"
    exc = error(line)
    assert exc.col == at(line, "$BS")


def test_send_with_no_text_and_flag_only():
    plain = parse("send")
    assert plain.args["text"] == b"" and plain.flags == frozenset()
    bare = parse("send -n")
    assert bare.args["text"] == b"" and bare.flags == {"-n"}
    assert parse("send -n hi").args["text"] == b"hi"
    # -n is a flag only in flag position; later it is data.
    later = parse("send hi -n")
    assert later.args["text"] == b"hi -n" and later.flags == frozenset()
    # Other dash words are data too (-x is a flag now: `send -x HEX`).
    assert parse("send -q").args["text"] == b"-q"


def test_one_blank_separates_command_and_text_further_blanks_are_data():
    assert parse("send two").args["text"] == b"two"
    assert parse("send  two").args["text"] == b" two"
    assert parse("send   a  b").args["text"] == b"  a  b"
    assert parse("send\ttab").args["text"] == b"tab"
    assert parse("send \t x").args["text"] == b"\t x"
    assert parse("send -n  x").args["text"] == b" x"
    assert parse("sendto localhost 7  x").args["text"] == b" x"
    assert parse("print  indented").args["text"] == " indented"


def test_quotes_in_send_text_are_data():
    assert parse("send -n \"a b\" 'c'").args["text"] == b"\"a b\" 'c'"
    assert parse("send -n 'it''s'").args["text"] == b"'it''s'"


# ----- numbers and ranges ---------------------------------------------------------

@pytest.mark.parametrize("line, words", [
    ("recv 0", "below the minimum 1"),
    ("recv -1", "below the minimum 1"),
    ("recv 99999999999", f"above the maximum {MAX_RECV}"),
    ("recvfrom 0", "below the minimum 1"),
    ("recv 1.5", "expected N"),
    ("recv lots", "expected N"),
])
def test_recv_sizes_out_of_range_are_rejected_clearly(line, words):
    exc = error(line)
    assert exc.col == 6 + line.startswith("recvfrom") * 4
    assert words in exc.message
    assert "e+" not in exc.message  # limits are written out in full


def test_recv_sizes_at_the_limits_parse():
    assert parse("recv 1").args["n"] == 1
    assert parse(f"recv {MAX_RECV}").args["n"] == MAX_RECV
    assert parse("recv").args["n"] == 2048


@pytest.mark.parametrize("cmd", ["connect localhost", "bind 127.0.0.1", "sendto localhost"])
@pytest.mark.parametrize("port", ["65536", "-1", "99999999"])
def test_ports_out_of_range_are_rejected(cmd, port):
    line = f"{cmd} {port}"
    exc = error(line)
    assert exc.col == at(line, port, nth=0 if port not in cmd else 1)
    assert f"port {port} is out of range 0-65535" in exc.message


@pytest.mark.parametrize("port", ["0", "1", "65535"])
def test_ports_in_range_and_service_names_parse(port):
    assert parse(f"connect localhost {port}").args["port"] == int(port)
    assert parse("connect localhost http-alt").args["port"] == "http-alt"
    assert parse("lookup 80 udp").args == {"service": 80, "proto": "udp"}


def test_timeout_values():
    assert parse("timeout none").args["seconds"] is None
    assert parse("timeout 2.5").args["seconds"] == 2.5
    assert parse("timeout 1e3").args["seconds"] == 1000.0
    for bad, words in [("0", "below the minimum 0.001"), ("-1", "below"), ("nan", "finite"),
                       ("inf", "finite"), ("forever", "expected"), ("100000", "above the maximum 86400")]:
        exc = error(f"timeout {bad}")
        assert exc.col == 9 and words in exc.message, (bad, exc.message)


def test_sleep_accepts_zero_but_not_negative():
    assert parse("sleep 0").args["seconds"] == 0
    assert "below the minimum 0" in error("sleep -0.5").message


# ----- recv redirect --------------------------------------------------------------

@pytest.mark.parametrize("line", ["recv all > /dev/null", "recv all >/dev/null", "recv  all  >  /dev/null"])
def test_recv_all_redirects(line):
    assert parse(line).args == {"n": "all", "path": "/dev/null"}


def test_recv_all_redirect_path_takes_quotes_and_variables():
    assert parse("recv all > 'a b.bin'").args["path"] == "a b.bin"
    assert parse("recv all > $HOST.bin").args["path"] == "localhost.bin"


@pytest.mark.parametrize("line", ["recv 10 > f", "recv > f", "recv line > f", "recv 10 >f"])
def test_only_recv_all_redirects(line):
    exc = error(line)
    assert "only `recv all` can be redirected" in exc.message
    assert exc.col == 6


@pytest.mark.parametrize("line", ["recv all >> f", "recv all >>f"])
def test_recv_all_append_is_refused_not_a_file_named_after_the_second_angle(line):
    """`recv all >>f` wrote a file named `>f` (and `>> f` said only 'unexpected argument')."""
    exc = error(line)
    assert "`>>` (append) is not supported" in exc.message and exc.col == len("recv all >") + 1


def test_redirect_needs_a_file_name():
    exc = error("recv all >")
    assert exc.col == len("recv all >") + 1 and "file name" in exc.message


# ----- must-fail ------------------------------------------------------------------

def test_must_fail_nesting_is_bounded_not_a_recursion_error():
    """4,000 `must-fail any ` in one line (56 kB, under MAX_LINE) ended every front end, the
    whole-script check included, in a RecursionError traceback."""
    line = "must-fail any " * 4000 + "info"
    exc = error(line)
    assert "nested more than 8 deep" in exc.message and exc.col == len("must-fail any ") * 9 + 1
    assert parse("must-fail any " * 8 + "info").nested is not None  # 8 deep is still a command
    line_tokens(line)
    suggest("must-fail any " * 4000, REGISTRY)


def test_must_fail_nests_a_whole_command():
    parsed = parse("must-fail refused connect localhost 1")
    assert parsed.args["kind"] == "refused"
    inner = parsed.args["command"]
    assert inner.command is REGISTRY.get("connect")
    assert inner.args == {"host": "localhost", "port": 1}
    assert inner.text == "connect localhost 1"
    assert parsed.text == "must-fail refused connect localhost 1"


def test_must_fail_nests_must_fail_and_commands_with_text():
    parsed = parse("must-fail any must-fail refused send -n x\\r")
    middle = parsed.args["command"]
    assert middle.command.name == "must-fail" and middle.text == "must-fail refused send -n x\\r"
    inner = middle.args["command"]
    assert inner.command.name == "send" and inner.flags == {"-n"} and inner.args["text"] == b"x\r"


@pytest.mark.parametrize("kind", list(FAILURE_NAMES) + ["ECONNREFUSED", "econnreset", "EPIPE", "EAI_NONAME"])
def test_must_fail_accepts_every_kind_and_errno_names(kind):
    parsed = parse(f"must-fail {kind} info")
    assert parsed.args["kind"] == kind.lower()


def test_every_errno_name_is_accepted():
    for name in list(errno.errorcode.values())[:50]:
        assert parse(f"must-fail {name} close").args["kind"] == name.lower()


@pytest.mark.parametrize("line, bad, words", [
    ("must-fail bogus info", "bogus", "unknown failure kind 'bogus'"),
    ("must-fail ENOSUCHERR info", "ENOSUCHERR", "unknown failure kind"),
    ("must-fail refused nosuch 1", "nosuch", "unknown command 'nosuch'"),
    ("must-fail refused connect localhost 65536", "65536", "out of range"),
    ("must-fail refused info extra", "extra", "unexpected argument"),
])
def test_must_fail_validates_kind_and_inner_command(line, bad, words):
    exc = error(line)
    assert exc.col == at(line, bad)
    assert words in exc.message


def test_must_fail_needs_a_command():
    for line in ("must-fail refused", "must-fail refused   "):
        exc = error(line)
        assert "missing command" in exc.message
        assert exc.col == len(line.rstrip()) + 1
    exc = error("must-fail")
    assert "missing KIND" in exc.message and exc.col == len("must-fail") + 1


def test_must_fail_kind_error_lists_the_names():
    message = error("must-fail nope info").message
    for name in FAILURE_NAMES:
        assert name in message


# ----- set, shutdown ----------------------------------------------------------------

def test_set_subcommands():
    assert parse("set eol crlf").args == {"eol": "crlf"}
    assert parse("set eol lf").command.name == "set eol"
    assert parse("set eol none").args == {"eol": "none"}
    assert parse("set display hex").args == {"mode": "hex"}
    assert parse("set display text").command.name == "set display"
    assert parse("set var X hello  world").args == {"name": "X", "value": "hello  world"}
    assert parse("set var X").args == {"name": "X", "value": ""}
    assert parse("set var X $HOST").args["value"] == "localhost"


@pytest.mark.parametrize("line, bad, words", [
    ("set", None, "expected one of eol, display, live, var"),
    ("set eo crlf", "eo", "did you mean 'eol'"),
    ("set colour red", "colour", "unknown setting 'colour'"),
    ("set eol cr", "cr", "expected crlf|lf|none"),
    ("set display html", "html", "expected text|hex"),
    ("set var 1x y", "1x", "not a variable name"),
    ("set var", None, "missing NAME"),
    ("set eol crlf extra", "extra", "unexpected argument"),
])
def test_set_errors(line, bad, words):
    exc = error(line)
    assert exc.col == (at(line, bad) if bad else len(line) + 1)
    assert words in exc.message


@pytest.mark.parametrize("word, how", [("rd", 0), ("wr", 1), ("rdwr", 2), ("0", 0), ("1", 1), ("2", 2)])
def test_shutdown_words_map_to_numbers(word, how):
    assert parse(f"shutdown {word}").args["how"] == how


@pytest.mark.parametrize("word", ["3", "-1", "read", "RD", "both"])
def test_shutdown_rejects_other_words(word):
    line = f"shutdown {word}"
    exc = error(line)
    assert exc.col == 10 and "0|1|2|rd|wr|rdwr" in exc.message


def test_socket_optional_words_in_order():
    assert parse("socket").args == {"family": "inet", "type": "tcp"}
    assert parse("socket inet6").args == {"family": "inet6", "type": "tcp"}
    assert parse("socket udp").args == {"family": "inet", "type": "udp"}
    assert parse("socket inet6 udp").args == {"family": "inet6", "type": "udp"}
    exc = error("socket tcp inet")
    assert exc.col == at("socket tcp inet", "tcp")


# ----- the line itself -----------------------------------------------------------------

@pytest.mark.parametrize("line", ["", " ", "\t", "   \t  ", "#", "# a comment", "   # indented comment",
                                  "\t#connect x 1", "#!/usr/bin/env netrepl"])
def test_comments_and_blank_lines_are_none(line):
    assert parse(line) is None


CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0a, 0x20), 0x7f)]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"{ord(c):#04x}" for c in CONTROLS])
def test_control_characters_in_a_line_are_rejected_at_their_column(char):
    for line in (f"send ab{char}cd", f"connect local{char}host 80", f"# comment{char}"):
        exc = error(line)
        assert exc.col == line.index(char) + 1
        assert "control character" in exc.message and "escape" in exc.message


def test_tab_is_a_blank_not_a_control_character():
    assert parse("connect\tlocalhost\t80").args == {"host": "localhost", "port": 80}


def test_line_length_limit():
    ok = "print " + "x" * (MAX_LINE - len("print "))
    assert len(ok) == MAX_LINE and parse(ok).args["text"] == "x" * (MAX_LINE - 6)
    long = ok + "x"
    exc = error(long)
    assert "line too long" in exc.message and str(MAX_LINE) in exc.message
    assert exc.col == MAX_LINE + 1


def test_parse_errors_carry_message_and_column_attributes():
    exc = error("connect localhost")
    assert str(exc) == exc.message
    assert isinstance(exc.col, int) and exc.col >= 1
