"""`@datatype`: the part of `@dataclass` netrepl uses, without its start-up cost.

Importing dataclasses imports inspect (and with it ast, dis, tokenize:
~5 ms), and each @dataclass class then execs five or six methods and
builds an inspect.Signature; over the dozen result, parser and script
classes every `netrepl -c` loads, that was a quarter of the start-up time
(docs/bench.md). `datatype` reads the same class bodies -- annotated fields,
plain defaults, `field(default_factory=...)` -- and adds what dataclass
would: `__init__` (calling `__post_init__` if defined), `__repr__`,
`__eq__`, `__match_args__`, and with `frozen=True` assignment that raises
FrozenInstanceError plus a `__hash__`. Only `__init__` is generated (one
small exec per class, so construction is as fast as a dataclass's); the
rest are shared functions. The exec waits for the class's first instance:
most of the datatypes a run imports are never made in it.

Not supported (never needed here, and refused loudly rather than
mis-handled): inheriting fields from another datatype, and the other
options of dataclass()/field().
"""

from __future__ import annotations

__all__ = ["datatype", "field", "FrozenInstanceError"]

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen datatype."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def field(*, default_factory):
    """A field whose default is made fresh for each instance (lists, dicts)."""
    return _Factory(default_factory)


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__datatype_fields__)
    return f"{type(self).__qualname__}({shown})"


def _values(self) -> tuple:
    return tuple(getattr(self, name) for name in self.__datatype_fields__)


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self) -> int:
    return hash(_values(self))


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _is_classvar(annotation) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _make_init(cls, names, defaults, frozen):
    """Compile the class's real __init__ (one small exec) and put it on the class."""
    env = {"_MISSING": _MISSING, "_setattr": object.__setattr__}
    params, body = [], []
    for name, default in zip(names, defaults):
        if isinstance(default, _Factory):
            env[f"_make_{name}"] = default.make
            params.append(f"{name}=_MISSING")
            value = f"_make_{name}() if {name} is _MISSING else {name}"
        elif default is _MISSING:
            params.append(name)
            value = name
        else:
            env[f"_default_{name}"] = default
            params.append(f"{name}=_default_{name}")
            value = name
        body.append(f"_setattr(self, {name!r}, {value})" if frozen else f"self.{name} = {value}")
    if "__post_init__" in cls.__dict__:
        body.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    namespace: dict = {}
    exec(source, env, namespace)  # noqa: S102 -- fixed text built from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init
    return init


def _deferred_init(cls, names, defaults, frozen):
    """An __init__ that compiles the real one on the class's first instance.

    Compiling is most of what a datatype costs (~0.15 ms a class), and a
    `netrepl -c "lookup http tcp"` makes instances of 8 of the 18 it imports
    (timing phases, recorder and listener records wait for their commands).
    """

    def __init__(self, *args, **kwargs):
        _make_init(cls, names, defaults, frozen)(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def datatype(cls=None, /, *, frozen: bool = False):
    """Class decorator: `@datatype` or `@datatype(frozen=True)`."""

    def wrap(cls):
        if any(hasattr(base, "__datatype_fields__") for base in cls.__mro__[1:]):
            raise TypeError(f"{cls.__name__}: datatypes cannot inherit fields from another datatype")
        names = [name for name, ann in cls.__dict__.get("__annotations__", {}).items() if not _is_classvar(ann)]
        defaults = [cls.__dict__.get(name, _MISSING) for name in names]
        for name, default, before in zip(names, defaults, [_MISSING] + defaults):
            if default is _MISSING and before is not _MISSING:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
            if isinstance(default, _Factory):
                delattr(cls, name)  # as with dataclass: no class-level default shared by instances
        cls.__init__ = _deferred_init(cls, names, defaults, frozen)
        cls.__datatype_fields__ = tuple(names)
        cls.__match_args__ = tuple(names)
        for dunder, method in (("__repr__", _repr), ("__eq__", _eq)):
            if dunder not in cls.__dict__:
                setattr(cls, dunder, method)
        if frozen:
            cls.__setattr__ = _frozen_setattr
            cls.__delattr__ = _frozen_delattr
            cls.__hash__ = _hash
        elif "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass is
        return cls

    return wrap if cls is None else wrap(cls)
