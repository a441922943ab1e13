# Type-checker view of netrepl/base/fastdata.py (PEP 484 stub, PEP 681 transform).
#
# `datatype` behaves as a dataclass transform: mypy and pyright synthesize
# __init__ from the annotated fields, honour `field(default_factory=...)`
# and `frozen=True`. The declaration lives in this stub, not in
# fastdata.py, so that the run-time module never imports typing (~2 ms of
# `netrepl -c` start-up: docs/bench.md). Keep the two in step.

from typing import Callable, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")

__all__ = ["datatype", "field", "FrozenInstanceError"]

class FrozenInstanceError(AttributeError): ...

def field(*, default_factory: Callable[[], _T]) -> _T: ...
@overload
@dataclass_transform(field_specifiers=(field,))
def datatype(cls: type[_T], /) -> type[_T]: ...
@overload
def datatype(*, frozen: bool = False) -> Callable[[type[_T]], type[_T]]: ...
