"""A lab server on a Unix stream socket: LabServer with its bind()/where() seam
overridden for AF_UNIX (`serve echo /tmp/x.sock`, `serve http @name`, `serve echo @`).

The same kinds and handlers as on TCP; the socket file gets the stale-socket
rule of `listen PATH` (a dead one replaced, a live one or a non-socket refused)
and is removed when the server stops (if it is still ours).
"""

from __future__ import annotations

import socket

from netrepl.core import unix
from netrepl.core.results import UnixName
from netrepl.lab.server import BACKLOG, LabServer, LabServerError
from netrepl.render.text import unix_name


class UnixLabServer(LabServer):
    def __init__(self, kind: str, name: UnixName, **kw):
        super().__init__(kind, "127.0.0.1", 0, "tcp", **kw)  # the stream handlers, the accept loop
        self.ephemeral = False  # no port the OS chose: _mark_lab_ports must not mark port 0
        self.name = name
        self._identity = None

    def bind(self) -> socket.socket:
        done, problem = unix.prepare_path(self.name, socket.SOCK_STREAM, "serve")
        if problem is not None:
            raise LabServerError(problem.message, problem.errno)
        sock = socket.socket(unix.UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(unix.sockaddr(self.name))
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            where = unix_name(self.name)
            raise LabServerError(f"cannot listen on {where}: {exc.strerror or exc}", exc.errno) from exc
        self.name = unix.name_of(sock.getsockname(), ephemeral=self.name.ephemeral)
        self._identity = unix.file_identity(self.name)
        self.replaced = done
        return sock

    def start(self) -> "UnixLabServer":
        self.replaced = None
        super().start()
        return self

    def where(self) -> str:
        return unix_name(self.name)

    def describe(self) -> str:
        return "unix".join(super().describe().split("tcp", 1))  # `echo unix /path (...)`, not tcp

    def stop(self) -> None:
        running = self._sock is not None and not self.stopping.is_set()
        super().stop()
        if running:
            unix.remove_file(self.name, self._identity)
