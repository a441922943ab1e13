"""`relay`: stand between real clients and a real server, beside the session socket (as `serve` is)."""

from __future__ import annotations

import collections

from netrepl.commands.common import error
from netrepl.core.results import Endpoint, Result
from netrepl.language.argtypes import LOOPBACK_HOSTS, ArgError, Candidates, Choice, Host, NotForThis, Path, Port
from netrepl.language.registry import Arg, CommandSet

COMMANDS = CommandSet()
LINES_KEPT = 400  # lines of what passed kept for the next `relay` to show (the rest: counted)


class ListenHost(Host):
    """The optional LHOST, or the word `stop` (`relay stop [LPORT]`) or `watch` (`relay watch [SECONDS]`);
    never a port number (`relay 8080 HOST PORT` binds 127.0.0.1)."""

    def convert(self, text, args, registry):
        if text.isdigit() or text == "--record":
            raise NotForThis()
        return super().convert(text, args, registry)

    def candidates(self, label, args, registry):
        return Candidates("host", LOOPBACK_HOSTS + ("stop", "watch"), "host, stop or watch")


class Target(Host):
    """The server's HOST: only after LPORT (a word LPORT refused is reported as LPORT's mistake)."""

    def convert(self, text, args, registry):
        if args.get("lport") is None:
            raise NotForThis()
        return super().convert(text, args, registry)


class RecordWord(Choice):
    def convert(self, text, args, registry):
        raise ArgError(f"expected --record FILE.nrs, got {text!r}")


class RecordFile(Path):
    """FILE.nrs: only after the word --record."""

    def convert(self, text, args, registry):
        if args.get("record_word") is None:
            raise NotForThis()
        return super().convert(text, args, registry)


def _problem(a) -> str | None:
    """What is wrong with the words together (said when it runs: each word parses on its own)."""
    if a["lhost"] in ("stop", "watch"):
        if a["host"] is not None or a["record"] is not None or a["record_word"] is not None:
            return ("`relay stop [LPORT]` takes only the relay's port" if a["lhost"] == "stop"
                    else "`relay watch [SECONDS]` takes only how long to watch")
        if a["lhost"] == "watch" and not isinstance(a["lport"], (int, type(None))):
            return f"`relay watch [SECONDS]`: expected a number of seconds, got {a['lport']!r}"
        return None
    if (a["lport"] is None) != (a["port"] is None) or (a["host"] is None) != (a["port"] is None):
        return "expected [LHOST] LPORT HOST PORT"
    if a["record_word"] is not None and a["record"] is None:
        return "--record needs the FILE.nrs to write: --record FILE.nrs"
    if a["lport"] is None and a["record_word"] is not None:
        return "expected [LHOST] LPORT HOST PORT before --record"
    return None


@COMMANDS.command("relay", Arg("LHOST", ListenHost(), "lhost", optional=True,
                      help="the address to listen on (default 127.0.0.1: loopback only); or `stop`"),
                  Arg("LPORT", Port(), "lport", optional=True, help="the port to listen on (0: the OS picks one)"),
                  Arg("HOST", Target(), "host", optional=True, help="the server's host name or address"),
                  Arg("PORT", Port(), "port", optional=True, help="the server's port"),
                  Arg("--record", RecordWord(("--record",)), "record_word", optional=True),
                  Arg("FILE.nrs", RecordFile(), "record", optional=True),
                  flags={"-q": "show connections only, not the bytes (the fastest copy: os.splice)",
                         "-r": "redact: each secret the client sends is written to --record FILE.nrs as a "
                               "variable ($secret1 ...), its value not stored"},
                  help="relay clients of [LHOST] LPORT to HOST PORT, showing both ways; `relay stop [LPORT]`; "
                       "`relay` shows what passed; `relay watch [SECONDS]` as it passes",
                  details="Each client of LHOST:LPORT (127.0.0.1 unless an address is given; at most 64 at once) "
                          "is connected to HOST PORT, and what it and the server send is copied both ways as it "
                          "comes: an end of stream (FIN) one way is passed on as a shutdown while the other way "
                          "goes on, a reset as a reset; a target that refuses closes the client. `relay` alone "
                          "lists the relays and shows each chunk that passed since it last looked (connection "
                          "number, > client to server or < server to client, escaped, in the current display; a "
                          "bulk transfer as a summary); `relay watch [SECONDS]` shows them as they pass, until "
                          "Ctrl-C or SECONDS. `--record FILE.nrs` writes what passed as a client test "
                          "(`netrepl FILE.nrs` sends the client's bytes to the server and checks each reply's "
                          "first line; `-D host=H -D port=P` for another server) and as a mock (`serve replay "
                          "FILE.nrs` plays the server's side). Sets $relay_port to the port listened on.")
def _relay(ex, a, flags):
    problem = _problem(a)
    if problem:
        return error(ex, "usage", "relay", problem)
    if a["lhost"] == "stop":
        return _stop(ex, a["lport"])
    if a["lhost"] == "watch":
        return _watch(ex, a["lport"])
    if a["lport"] is None:
        return _listing(ex)
    lhost, lport, host, port = a["lhost"] or "127.0.0.1", a["lport"], a["host"], a["port"]
    try:
        lport, port = _port_number(lport), _port_number(port)
    except OSError as exc:
        return error(ex, "service", "relay", str(exc))
    if port == 0:
        return error(ex, "usage", "relay", "the server's PORT cannot be 0")
    if "-r" in flags and a["record"] is None:
        return error(ex, "usage", "relay", "-r redacts a recording: give --record FILE.nrs")
    if "-q" in flags and a["record"] is not None:
        return error(ex, "usage", "relay", "-q copies in the kernel without looking: it cannot --record")
    from netrepl.lab.relay import Relay  # with the lab server: off the start-up path
    from netrepl.lab.server import LabServerError
    from netrepl.render.relayview import RelayView

    target = Endpoint(host, port)  # a part: a lab server's port the OS chose is masked by --stable
    view = RelayView(lambda: ex.session.display, target)
    kept: collections.deque[tuple] = collections.deque(maxlen=LINES_KEPT)
    try:
        relay = Relay(host, port, lhost, lport, quiet="-q" in flags)
    except ValueError as exc:
        return error(ex, "usage", "relay", str(exc))
    relay.shown = kept  # what `relay` shows next (and how many it dropped)
    relay.dropped = 0

    def keep(ev) -> None:
        for line in view.lines(ev):
            if len(kept) == LINES_KEPT:
                relay.dropped += 1
            kept.append(line)

    relay.listeners.append(keep)
    try:
        relay.start()
    except LabServerError as exc:
        return error(ex, "io", "relay", str(exc), exc.errno)
    if a["record"] is not None:
        from netrepl.lab.relayrecord import RelayRecording

        try:
            relay.record(RelayRecording(a["record"], (host, port), relay.where(), redact="-r" in flags))
        except OSError as exc:
            relay.stop()
            return error(ex, "file", "relay", f"{a['record']}: {exc.strerror or exc}", exc.errno)
    ex.servers[("relay", relay.port)] = relay
    ex.variables["relay_port"] = str(relay.port)
    result = Result(state=ex.session.state()).say("relaying ", Endpoint(relay.host, relay.port, relay.ephemeral),
                                                  " -> ", target)
    if a["record"] is not None:
        result.say(f"recording to {a['record']} (a test: netrepl {a['record']}; a mock: serve replay {a['record']})")
    return result


def _port_number(port) -> int:
    if isinstance(port, int):
        return port
    import socket

    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        raise OSError(f"unknown tcp service {port!r}") from None


def _relays(ex) -> list:
    return [(key, server) for key, server in ex.servers.items() if key[0] == "relay"]


def _listing(ex) -> Result:
    result = Result(state=ex.session.state())
    relays = _relays(ex)
    if not relays:
        return result.say("no relay running")
    for _, relay in relays:
        result.say("relay ", Endpoint(relay.host, relay.port, relay.ephemeral), " -> ", Endpoint(*relay.target),
                   f" ({relay.status()})")
        if relay.dropped:
            result.say(f"  ({relay.dropped} earlier lines not kept)")
            relay.dropped = 0
        while relay.shown:
            result.say("  ", *relay.shown.popleft())
    return result


def _stop(ex, port) -> Result:
    stopping = [(key, relay) for key, relay in _relays(ex) if port is None or relay.port == port]
    if not stopping:
        return error(ex, "state", "relay stop", "no relay running" + (f" on port {port}" if port is not None else ""))
    result = Result(state=ex.session.state())
    for key, relay in stopping:
        ex.servers.pop(key)
        relay.stop()  # the recording too
        result.say("stopped relay ", Endpoint(relay.host, relay.port, relay.ephemeral), " -> ", Endpoint(*relay.target),
                   f": {relay.numbered} connection{'' if relay.numbered == 1 else 's'}, {relay.sent} bytes >, "
                   f"{relay.received} bytes <")
        if relay.recording is not None:
            n = relay.recording.written
            result.say(f"wrote {n} connection{'' if n == 1 else 's'} to {relay.recording.path}")
            if relay.recording.failed:
                result.say(relay.recording.failed)
    return result


WATCH_POLL = 0.05  # seconds between looks at what passed, while watching


def _watch(ex, seconds) -> Result:
    """What passes, as it passes (through the front end's data writer), until Ctrl-C or SECONDS."""
    import time

    from netrepl.render.text import line_text

    relays = [relay for _, relay in _relays(ex)]
    if not relays:
        return error(ex, "state", "relay watch", "no relay running")
    result = Result(state=ex.session.state())
    began = time.monotonic()
    deadline = None if seconds is None else began + seconds

    def drain() -> None:
        for relay in relays:
            while relay.shown:
                line = relay.shown.popleft()
                if ex.data_writer is not None:
                    ex.data_writer(line_text(line) + "\n")
                else:
                    result.say(*line)

    try:
        while deadline is None or time.monotonic() < deadline:
            drain()
            time.sleep(WATCH_POLL if deadline is None else max(0.0, min(WATCH_POLL, deadline - time.monotonic())))
    except KeyboardInterrupt:
        drain()
        return result.say(f"stopped watching after {time.monotonic() - began:.1f} s (the relays go on)")
    drain()
    return result.say(f"watched for {seconds:g} s (the relays go on)")
