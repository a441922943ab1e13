"""`netrepl serve KIND` and `netrepl serve replay FILE.nrs`: a lab server in the foreground
until Ctrl+C, its announcement and its errors as words.

Apart from server.py (where it was): it starts a LabServer or a ReplayServer, and replay.py
builds on server.py, so server.py importing replay.py made a cycle.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from netrepl.base import labkinds as kinds
from netrepl.core.wildcard import exposed
from netrepl.lab.server import LabServer, LabServerError


def serve_forever(kind: str, host: str, port: int, proto: str = "tcp", root: str | None = None,
                  out: TextIO | None = None, replay: str | None = None, timeout: float | None = None,
                  variables: dict | None = None) -> int:
    """`netrepl serve KIND`: serve in the foreground until Ctrl+C. Returns the exit status.

    `out` defaults to sys.stderr (looked up at call time, so redirection works); a replay
    server (`replay`: its recording) reports each mismatch there as it happens.
    """
    from netrepl.render.text import safe  # file names and peer excerpts reach the terminal

    out = out if out is not None else sys.stderr
    try:
        if replay is not None:
            from netrepl.lab.replay import REPLAY_TIMEOUT, ReplayServer

            server = ReplayServer(replay, host, port, timeout=timeout or REPLAY_TIMEOUT, variables=variables,
                                  on_report=lambda text: print(safe(text), file=out, flush=True)).start()
        else:
            server = LabServer(kind, host, port, proto, root).start()
    except OSError as exc:  # the recording cannot be read
        print(f"netrepl serve: {safe(str(replay))}: {exc.strerror or exc}", file=out, flush=True)
        return 1
    except (LabServerError, ValueError) as exc:
        print(f"netrepl serve: {safe(str(exc))}", file=out, flush=True)
        return 1
    try:  # the announcement too: Ctrl+C right after it must not end in a traceback
        print(f"serving {server.kind} on {server.proto} {server.where()} (Ctrl+C to stop)",
              file=out, flush=True)
        note = exposed(server.host) if isinstance(server.host, str) else None
        if note:
            print(f"note: {note}", file=out, flush=True)
        if server.kind in kinds.TLS_KINDS:
            print(f"lab CA: {kinds.LAB_CA} (lab-only certificates; trust it with `set tls ca PATH`)",
                  file=out, flush=True)
        while True:
            time.sleep(1)  # unlike a bare Event.wait(), sleep is interruptible by Ctrl+C everywhere
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
