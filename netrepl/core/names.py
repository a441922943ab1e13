"""Name resolution a user can see: what getaddrinfo returns (and in which order
connect tries it), and a reverse lookup (gethostbyaddr) whose socket.herror is
the worksheet's "other address error".

A lookup may hang on a slow resolver and cannot be interrupted inside the C
library, so it runs in a helper thread that is waited for at most the session
timeout (Ctrl-C stops the wait); a lookup still running then is left to finish
on its own.
"""

from __future__ import annotations

import socket
import time

from netrepl.core.errors import classify
from netrepl.core.results import Elapsed, Endpoint, Result
from netrepl.core.sockstate import FAMILY_NAMES, TYPE_NAMES, plural


def _bounded(call, timeout: float | None):
    """call() in a helper thread, waited for at most `timeout` seconds: its value, or its exception raised here."""
    import threading  # only for a lookup: most scripts never resolve, so not at start-up

    box: dict = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 (handed to the caller, who classifies it)
            box["error"] = exc

    worker = threading.Thread(target=run, name="netrepl-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the resolver gave no answer within {timeout:g} s (the lookup goes on in the background)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def forward(session, host: str, port: int | str | None) -> Result:
    """`resolve HOST [PORT]`: getaddrinfo as connect calls it, every answer in order."""
    s = session
    family = s.transport.family if s.transport else socket.AF_UNSPEC
    kind = s.transport.type if s.transport else socket.SOCK_STREAM
    # The name asked as an Endpoint (a lab server's OS-chosen port is masked by --stable), a service by name.
    target: object = Endpoint(host, port) if isinstance(port, int) else f"{host}:{port}" if port else host
    how = f" ({socket.AddressFamily(family).name}, {TYPE_NAMES.get(kind, kind)})"
    started = time.perf_counter()
    try:
        answers = _bounded(lambda: socket.getaddrinfo(host, port, family, kind, 0, socket.AI_CANONNAME), s.timeout)
    except UnicodeError as exc:  # the IDNA codec refuses the name (e.g. a label over 63 characters)
        return s._fail(classify(socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a valid host name ({exc})"),
                                "resolve"))
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "resolve")
        if err.kind in ("address", "other-address"):
            shown = f"{host}:{port}" if port is not None else host
            err = type(err)(err.kind, err.op, f"{err.message} (getaddrinfo {shown}{how})", err.errno, err.errname,
                            err.exc)
        return s._fail(err)
    elapsed = time.perf_counter() - started
    result = s._result().say("getaddrinfo ", target, f"{how}: {plural(len(answers), 'address')} in ",
                             Elapsed(elapsed))
    canonical = answers[0][3] if answers else ""
    if canonical and canonical != host:
        result.say(f"  canonical name {canonical}")
    for i, (fam, socktype, _, _, address) in enumerate(answers, 1):
        where = Endpoint.of(address) if port is not None else address[0]
        result.say(f"  {i}  {FAMILY_NAMES.get(fam, fam):<5}  {TYPE_NAMES.get(socktype, socktype)}  ", where)
    if len(answers) > 1:
        result.say("`connect` tries them in this order, the next when one fails")
    result.state = s.state()
    return result


def reverse(session, address: str) -> Result:
    """`reverse ADDRESS`: gethostbyaddr; no name is socket.herror (kind other-address)."""
    s = session
    started = time.perf_counter()
    try:
        name, aliases, addresses = _bounded(lambda: socket.gethostbyaddr(address), s.timeout)
    except UnicodeError as exc:
        return s._fail(classify(socket.gaierror(socket.EAI_NONAME, f"{address!r} is not valid ({exc})"), "reverse"))
    except (OSError, KeyboardInterrupt) as exc:
        err = classify(exc, "reverse")
        if err.kind in ("address", "other-address"):
            err = type(err)(err.kind, err.op, f"{err.message} (gethostbyaddr {address!r})", err.errno, err.errname,
                            err.exc)
        return s._fail(err)
    elapsed = time.perf_counter() - started
    result = s._result().say(f"gethostbyaddr({address!r}): {name} in ", Elapsed(elapsed))
    if aliases:
        result.say("  aliases " + ", ".join(aliases))
    if addresses and addresses != [address]:
        result.say("  addresses " + ", ".join(addresses))
    result.state = s.state()
    return result
