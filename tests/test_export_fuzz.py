"""`netrepl export`, property-based: any pattern, any text in a script -> a program that
compiles (plain ASCII, no raw control character) or a refusal with FILE:LINE, never a
traceback; and the program's own decision about an option's pattern (its `expectation`) is
netrepl's (language/texttypes.py parse_expectation), whatever the value.

Hypothesis runs a fixed number of derandomized examples per property (CI is deterministic);
each prints how many cases ran and how they ended (pytest -s shows them). Nothing here opens
a socket: the programs are built and compiled, not run (test_export*.py run them).
"""

from __future__ import annotations

import ast
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings, strategies as st

from netrepl.export import Problems, Refused, export_lines
from netrepl.export.escapeprelude import decode_source
from netrepl.export.prelude import HELPERS
from netrepl.language.escapes import EscapeError
from netrepl.language.texttypes import parse_expectation

EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])
COUNTS: Counter = Counter()
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Pieces of regular expressions, good and bad: literals (controls, bidi, astral, escapes as a
# script writes them), classes, groups (named, look-arounds, unbalanced), quantifiers (nested:
# backtracking bombs), alternations, backreferences, flags.
ATOMS = st.sampled_from([
    "a", "b", "\\x1b", "\\x00", "\\r\\n", "\\d", "\\w+", ".", "\u202e", "\U0001F600", "\\\\", "'", '"', '"""',
    "{", "}", "{2,3}", "[a-z]", "[^\\n]", "[", "]", "(", ")", "(?P<name>x)", "(?P<1bad>x)", "(?=a)", "(?<!b)",
    "\\1", "(?i)", "*", "+?", "??", "|", "$", "^", "\\Z", "\\p{L}", "%", "$x", "${y:-z}",
])


def _nest(inner):
    return st.one_of(
        st.tuples(st.sampled_from(["(", "(?:", "(?P<g>", "["]), inner, st.sampled_from([")", ")+", ")*", "]", ""]))
        .map("".join),
        st.lists(inner, min_size=2, max_size=4).map("|".join),
        st.tuples(inner, st.sampled_from(["+", "*", "{1,9}", "+$", ""])).map("".join),
    )


PATTERNS = st.recursive(st.lists(ATOMS, min_size=1, max_size=6).map("".join), _nest, max_leaves=40)
TEXTS = st.one_of(PATTERNS, st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))


def _export(lines: list[str]):
    """The program's source, or the kind of refusal."""
    try:
        program = export_lines(lines, "fuzz.nrs", "netrepl export fuzz.nrs", {"x": "1", "y": "2"})
    except Problems as exc:
        assert exc.problems and all(str(p).startswith("fuzz.nrs:") for p in exc.problems)
        return "problems"
    except Refused as exc:
        assert exc.where.startswith("fuzz.nrs:") and exc.message
        return "refused"
    return program.text_of()


@FUZZ
@given(pattern=PATTERNS, text=TEXTS)
def test_any_pattern_or_text_exports_to_a_program_that_compiles_or_is_refused(pattern, text):
    lines = ["serve echo 0", "connect localhost $lab_port", f"send {text}", f"expect /{pattern}/",
             f"print {text}", f"must-fail expect expect /{pattern}/", "close"]
    source = _export(lines)
    if source in ("problems", "refused"):
        COUNTS[source] += 1
        return
    COUNTS["exported"] += 1
    assert all(line.isascii() for line in source.splitlines())  # every text escaped into the code
    assert RAW.search(source) is None
    compile(ast.parse(source), "fuzz.py", "exec")


def _program_expectation():
    namespace: dict = {}
    exec(compile("import re\n" + decode_source() + "\n\n" + HELPERS["expectation"][2], "<program>", "exec"),
         namespace)
    return namespace["expectation"]


EXPECTATION = _program_expectation()


@FUZZ
@given(value=st.one_of(PATTERNS.map(lambda p: f"/{p}/"), TEXTS, st.just("eof")))
def test_the_programs_expectation_decides_as_netrepl_whatever_the_options_value(value):
    try:
        want = parse_expectation(value)
        expected = None if want.kind == "eof" else want.literal if want.kind == "text" else want.pattern.pattern
    except EscapeError as exc:
        expected = ("refused", exc.col)
    try:
        got = EXPECTATION(value)
        got = got.pattern if hasattr(got, "pattern") else got
    except ValueError as exc:  # the program's EscapeError
        got = ("refused", exc.col)
    COUNTS["refused" if isinstance(got, tuple) else "regex" if value.startswith("/") else "text"] += 1
    assert got == expected, value


def teardown_module():
    print(f"\n[fuzz] export: {EXAMPLES} cases per property; " + ", ".join(f"{k}={v}" for k, v in COUNTS.items()))
