"""netrepl.base.patterns.lazy: a pattern compiled on first use that then behaves as re.compile's."""

import re
import subprocess
import sys

from netrepl.base.patterns import lazy


def test_a_lazy_pattern_compiles_on_first_use_and_answers_as_the_compiled_one():
    source, text = r"(\w+)=(\d+)", "a=1 bb=22 c=x"
    p, compiled = lazy(source), re.compile(source)
    assert "search" not in vars(p)  # nothing compiled at definition
    assert p.search(text)[0] == compiled.search(text)[0]
    assert "search" in vars(p)  # the compiled pattern's bound methods now sit on the object
    assert [m.groups() for m in p.finditer(text)] == [m.groups() for m in compiled.finditer(text)]
    assert p.findall(text) == compiled.findall(text)
    assert p.sub(r"\2", text) == compiled.sub(r"\2", text)
    assert p.fullmatch("k=9").group(2) == "9" and p.match("=") is None
    assert p.split(text) == compiled.split(text)
    assert (p.pattern, p.groups) == (source, 2)


def test_flags_and_bytes_patterns_are_kept():
    assert lazy(r"a.b", re.S).fullmatch("a\nb") is not None
    assert lazy(r"a.b").fullmatch("a\nb") is None
    assert lazy(rb"[^\x20-\x7e]").search(b"ok\x1b") is not None


def test_a_bad_pattern_fails_when_first_used_with_re_error():
    p = lazy("(")
    try:
        p.search("x")
    except re.error:
        pass
    else:
        raise AssertionError("an invalid pattern compiled")


PROBE = """
import re, sys
from netrepl.cli import main
try:
    main(["-q", "-c", "lookup http tcp"])
except SystemExit:
    pass
print([f"{name}.{attr}" for name, module in list(sys.modules.items()) if name.startswith("netrepl")
       for attr, value in vars(module).items() if isinstance(value, re.Pattern)])
"""


def test_a_netrepl_c_start_compiles_no_pattern_at_import():
    # Every module-level pattern on the `netrepl -c` path is lazy: a start compiles only what it uses.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_lazy_pattern_copies_and_pickles_as_a_value():
    import copy
    import pickle

    for p in (lazy(r"a+"), lazy(r"b+")):
        p.search("b")  # one compiled, one not: both copy
        for other in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
            assert other.fullmatch("aaa" if p._source[0] == r"a+" else "bb") is not None
