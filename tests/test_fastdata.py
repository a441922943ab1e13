"""netrepl.base.fastdata behaves as the @dataclass it replaces, for the features netrepl uses."""

from __future__ import annotations

import dataclasses
import pickle
from typing import ClassVar

import pytest

from netrepl.base.fastdata import FrozenInstanceError, field, datatype


def both(frozen=False):
    """The same class body decorated by dataclass and by datatype."""

    def body(deco, make_field):
        class Thing:
            """A test value."""

            name: str
            port: int
            flag: bool = False
            items: list = make_field(default_factory=list)
            table: dict = make_field(default_factory=dict)
            shared: ClassVar[int] = 7

            def double(self) -> int:
                return self.port * 2

        return deco(Thing)

    return (body(dataclasses.dataclass(frozen=frozen), dataclasses.field),
            body(datatype(frozen=frozen), field))


@pytest.mark.parametrize("frozen", [False, True])
def test_init_defaults_repr_eq_match_dataclass(frozen):
    dc, rc = both(frozen)
    for args, kw in [(("a", 1), {}), (("a", 1, True), {}), (("a",), {"port": 2, "items": [1]}),
                     ((), {"name": "x", "port": 3, "flag": True, "table": {"k": 1}})]:
        d, r = dc(*args, **kw), rc(*args, **kw)
        assert repr(r) == repr(d)
        assert (r.name, r.port, r.flag, r.items, r.table) == (d.name, d.port, d.flag, d.items, d.table)
        assert r == rc(*args, **kw) and not r != rc(*args, **kw)
        assert r.double() == d.double()
    assert rc("a", 1) != rc("a", 2)
    assert rc("a", 1) != ("a", 1)  # no equality with other types
    assert rc.__match_args__ == dc.__match_args__ == ("name", "port", "flag", "items", "table")
    assert rc.shared == 7 and "shared" not in rc.__datatype_fields__
    assert rc.__doc__ == "A test value."


def test_factories_give_each_instance_its_own():
    _, rc = both()
    a, b = rc("a", 1), rc("b", 2)
    a.items.append(1)
    a.table["x"] = 1
    assert b.items == [] and b.table == {}
    assert not hasattr(rc, "items")  # as with dataclass: no shared class-level default


def test_missing_and_unknown_arguments_fail_as_for_a_dataclass():
    dc, rc = both()
    for cls in (dc, rc):
        with pytest.raises(TypeError):
            cls("only-a-name")
        with pytest.raises(TypeError):
            cls("a", 1, nonsense=1)
        with pytest.raises(TypeError):
            cls("a", 1, False, [], {}, "one too many")


def test_mutable_records_are_mutable_and_unhashable():
    dc, rc = both()
    r = rc("a", 1)
    r.port = 5
    assert r.port == 5
    for cls in (dc, rc):
        with pytest.raises(TypeError):
            hash(cls("a", 1))


def test_frozen_records_refuse_assignment_and_hash_by_value():
    dc, rc = both(frozen=True)
    r = rc("a", 1, items=(), table=None)
    with pytest.raises(FrozenInstanceError):
        r.port = 2
    with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError, as dataclasses' is
        del r.name
    assert hash(r) == hash(rc("a", 1, items=(), table=None))
    assert {r: 1}[rc("a", 1, items=(), table=None)] == 1
    with pytest.raises(TypeError):  # a list field makes it unhashable, as with dataclass
        hash(rc("a", 1))


def test_post_init_runs_after_the_fields_are_set():
    @datatype
    class WithPost:
        a: int
        b: list = field(default_factory=list)

        def __post_init__(self):
            self.total = self.a + len(self.b)

    assert WithPost(2, [1, 2]).total == 4


def test_explicit_methods_are_kept():
    @datatype
    class Custom:
        a: int

        def __repr__(self):
            return "custom"

        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    assert repr(Custom(1)) == "custom"
    assert Custom(1) == Custom(2)
    assert isinstance(hash(Custom(1)), int)


def test_copy_and_pickle_work():
    import copy

    assert copy.copy(Module(1, "x")) == Module(1, "x")
    assert copy.deepcopy(FrozenModule("h", 1)) == FrozenModule("h", 1)
    assert pickle.loads(pickle.dumps(FrozenModule("h", 1))) == FrozenModule("h", 1)
    assert pickle.loads(pickle.dumps(Module(1, "x"))) == Module(1, "x")


def test_unsupported_uses_are_refused_loudly():
    with pytest.raises(TypeError):
        @datatype
        class Bad:
            a: int = 1
            b: int

    @datatype
    class Base:
        a: int

    with pytest.raises(TypeError):
        @datatype
        class Child(Base):
            b: int


def test_netrepl_values_compare_by_value():
    # The classes every command creates: equality and hashing as before.
    from netrepl.core.results import Endpoint, ErrorInfo, Result

    assert Endpoint("127.0.0.1", 80) == Endpoint("127.0.0.1", 80)
    assert len({Endpoint("127.0.0.1", 80), Endpoint("127.0.0.1", 80, False)}) == 1
    assert ErrorInfo("io", "send", "boom", 32, "EPIPE") != ErrorInfo("io", "send", "boom")
    assert Result().say("x").lines == [("x",)]
    assert Result() == Result()


@datatype
class Module:
    a: int
    b: str


@datatype(frozen=True)
class FrozenModule:
    host: str
    port: int


# ----- the type-checker stub (fastdata.pyi) --------------------------------------------

def _stub():
    import ast
    from pathlib import Path

    import netrepl.base.fastdata as fastdata

    path = Path(fastdata.__file__).with_suffix(".pyi")
    assert path.exists(), "fastdata.pyi is missing: type checkers would not see @datatype as a dataclass transform"
    return fastdata, ast.parse(path.read_text()), path


def test_the_stub_declares_record_a_dataclass_transform_with_field_as_its_specifier():
    import ast

    _, tree, _ = _stub()
    decorated = [d for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "datatype"
                 for d in node.decorator_list if isinstance(d, ast.Call)
                 and getattr(d.func, "id", None) == "dataclass_transform"]
    assert len(decorated) == 1  # PEP 681: on exactly one overload when there is no implementation
    specs = {k.arg: ast.unparse(k.value) for k in decorated[0].keywords}
    assert specs == {"field_specifiers": "(field,)"}


def test_the_stub_matches_the_module():
    import ast
    import inspect

    fastdata, tree, _ = _stub()
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}
    assert names == set(fastdata.__all__)
    # datatype's and field's keyword parameters are the module's (the stub's overloads, merged)
    for name in ("datatype", "field"):
        stub_params = {a.arg for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name
                       for a in n.args.args + n.args.posonlyargs + n.args.kwonlyargs}
        real = getattr(fastdata, name)
        assert stub_params == set(inspect.signature(real).parameters), name


def test_the_stub_and_the_typed_marker_are_packaged():
    import tomllib

    fastdata, _, path = _stub()
    package = path.parent.parent  # netrepl/, above base/
    assert (package / "py.typed").exists()  # PEP 561: without it checkers ignore an installed package
    project = package.parent / "pyproject.toml"
    if not project.exists():
        pytest.skip("netrepl is installed, not a source checkout")
    shipped = tomllib.loads(project.read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in shipped["netrepl"] and "*.pyi" in shipped["netrepl.base"]


def test_fastdata_imports_no_typing_at_run_time():
    import subprocess
    import sys

    code = "import sys; import netrepl.base.fastdata; print('typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
