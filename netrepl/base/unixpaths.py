"""Unix socket addresses as words and files: UnixName (a path or an @abstract name), what a
HOST word that names one looks like, its parsing (checked against sun_path's size before any
syscall), how it is written, and the removal of a socket file we bound.

A floor below language/, core/ and render/ (these were in core/results.py, core/unix.py and
render/text.py): the argument types parse these names, the session binds them, the renderer
shows them, and the layers import only downward.
"""

from __future__ import annotations

import os

from netrepl.base.fastdata import datatype

SUN_PATH = 108  # bytes in sockaddr_un.sun_path (Linux); an abstract name has one fewer (its NUL)


@datatype(frozen=True)
class UnixName:
    """An AF_UNIX address: a file path, or a Linux abstract name (shown `@name`).
    `ephemeral` marks a name the kernel chose (autobind: `listen @`); "" is an unnamed socket."""

    name: str
    abstract: bool = False
    ephemeral: bool = False


def is_unix_word(text: str) -> bool:
    """Does a HOST word name a Unix socket? A path holds a `/`; `@NAME` is an abstract name."""
    return "/" in text or text.startswith("@")


def parse_name(text: str, allow_autobind: bool = False) -> UnixName:
    """`/path`, `./rel/path`, `@name` (or `@` alone: the kernel picks an abstract name) -> UnixName.
    ValueError with the words for the user when it cannot be a sun_path, checked before any syscall."""
    abstract = text.startswith("@")
    name = text[1:] if abstract else text
    size = len(os.fsencode(name))
    if abstract and not name and not allow_autobind:
        raise ValueError("`@` alone (a name the kernel chooses) only makes sense for listen or bind; "
                         "give the abstract name: @NAME")
    limit = SUN_PATH - 1 if abstract else SUN_PATH
    if size > limit:
        what = "an abstract name" if abstract else "a Unix socket path"
        raise ValueError(f"{what} is at most {limit} bytes (sockaddr_un.sun_path is {SUN_PATH}); this one is "
                         f"{size}: use a shorter path (e.g. a symlinked directory or a path relative to the "
                         "current directory)")
    return UnixName(name, abstract, ephemeral=abstract and not name)


def unix_name(name: UnixName, stable: bool = False) -> str:
    """A path as it is, an abstract name as `@name`, an unnamed socket in words (escaped by the caller)."""
    if stable and name.ephemeral:
        return "@<name>" if name.abstract else "<path>"
    if name.abstract:
        return "@" + name.name
    return name.name or "(unnamed)"


def remove_file(name: UnixName, identity: tuple[int, int] | None) -> str | None:
    """Remove our socket file (not one someone put there since); words for what happened."""
    if identity is None:
        return None
    try:
        st = os.lstat(name.name)
    except OSError:
        return f"the socket file {name.name} was already gone"
    if (st.st_dev, st.st_ino) != identity:
        return f"{name.name} is no longer our socket file: left in place"
    try:
        os.unlink(name.name)
    except OSError as exc:
        return f"could not remove the socket file {name.name}: {exc.strerror}"
    return f"removed the socket file {name.name}"
