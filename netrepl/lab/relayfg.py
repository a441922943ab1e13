"""`netrepl relay [LHOST] LPORT HOST PORT [--record FILE.nrs] [-q] [--hex]`: a relay in the
foreground, showing each chunk as it passes, until Ctrl-C (or SIGINT), which stops it
cleanly: the connections are closed, the recording finished, and a summary said."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

USAGE = ("netrepl relay [LHOST] LPORT HOST PORT [--record FILE.nrs [--redact]] [-q] [--hex] "
         "[--max-connections N]")


def _port(text: str, what: str, low: int) -> int:
    import argparse
    import socket

    if text.isdigit():
        port = int(text)
    else:
        try:
            port = socket.getservbyname(text, "tcp")
        except OSError:
            raise argparse.ArgumentTypeError(f"{what}: not a port number or a tcp service name: {text!r}") from None
    if not low <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{what}: {port} is out of range {low}-65535")
    return port


def _safe_parser_class():
    """argparse quotes what was typed (an unknown option) as is: escaped here, as cli.py's parser does
    (not imported from there: the front end imports this module)."""
    import argparse

    from netrepl.render.text import safe
    from netrepl.render.streams import Notes, Transcript

    class SafeParser(argparse.ArgumentParser):
        def _print_message(self, message, file=None):
            if message:
                text = "\n".join(safe(line) for line in message.split("\n"))
                (Transcript(sys.stdout) if file is sys.stdout else Notes(sys.stderr)).write(text)

    return SafeParser


def build_parser():
    p = _safe_parser_class()(prog="netrepl relay", usage=USAGE,
                        description="Relay every client of LHOST:LPORT (default 127.0.0.1) to HOST PORT, showing "
                                    "each chunk with its connection number and direction (> client to server, "
                                    "< server to client), until Ctrl-C.")
    p.add_argument("words", nargs="+", metavar="[LHOST] LPORT HOST PORT")
    p.add_argument("--record", metavar="FILE.nrs",
                   help="write what passed as a client test (netrepl FILE.nrs) and a mock (serve replay FILE.nrs)")
    p.add_argument("--redact", action="store_true",
                   help="with --record: each secret the client sends (HTTP Authorization and Cookie, SMTP AUTH, IMAP "
                        "LOGIN, POP3/FTP PASS, redis AUTH) is written as a variable ($secret1 ...), its value not "
                        "stored: give it with -D secret1=VALUE to the test and to serve replay")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="show connections only, not the bytes (the fastest copy: os.splice)")
    p.add_argument("--hex", action="store_true", help="show the bytes as a hex dump")
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="clients relayed at once at most (default: the lab servers' cap, 64)")
    return p


def _stop_on_signals() -> None:
    """SIGINT (even where it was ignored: a `cmd &` of a non-interactive shell) and SIGTERM stop the relay
    as Ctrl-C does, so the recording is finished whoever stops it."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def relay_main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    from netrepl.base.exitstatus import ExitStatus
    from netrepl.render.text import safe

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        words = args.words
        if len(words) not in (3, 4):
            parser.error("expected [LHOST] LPORT HOST PORT")
        lhost = words[0] if len(words) == 4 else "127.0.0.1"
        lport, host, tport = words[-3], words[-2], words[-1]
        try:
            lport, tport = _port(lport, "LPORT", 0), _port(tport, "PORT", 1)
        except Exception as exc:  # argparse.ArgumentTypeError
            parser.error(str(exc))
        if args.redact and not args.record:
            parser.error("--redact redacts a recording: give --record FILE.nrs")
        if args.record and args.quiet:
            parser.error("-q copies in the kernel without looking: it cannot --record")
        if args.max_connections is not None and args.max_connections < 1:
            parser.error("--max-connections must be at least 1")
    except SystemExit as exc:
        return int(exc.code or 0) and ExitStatus.REJECTED
    from netrepl.lab.relay import Relay
    from netrepl.lab.server import LabServerError
    from netrepl.render.relayview import RelayView

    _stop_on_signals()
    lock = threading.Lock()

    def say(lines: list[str], stream: TextIO = out) -> None:
        if not lines:
            return
        with lock:
            try:
                stream.write("".join(line + "\n" for line in lines))
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: the relay goes on, unseen
                pass

    target = f"[{host}]:{tport}" if ":" in host else f"{host}:{tport}"
    view = RelayView(lambda: "hex" if args.hex else "text", target)
    try:
        relay = Relay(host, tport, lhost, lport, quiet=args.quiet,
                      on_event=lambda ev: say(view.text_lines(ev)), max_connections=args.max_connections)
    except ValueError as exc:
        say([f"netrepl relay: {safe(str(exc))}"], err)
        return ExitStatus.REJECTED
    try:
        relay.start()
    except LabServerError as exc:
        say([f"netrepl relay: {safe(str(exc))}"], err)
        return ExitStatus.FAILED
    recording = None
    if args.record:  # after the bind: the file's first line names the port the OS chose
        from netrepl.lab.relayrecord import RelayRecording

        try:
            recording = RelayRecording(args.record, (host, tport), relay.where(), redact=args.redact)
        except OSError as exc:
            relay.stop()
            say([f"netrepl relay: {safe(args.record)}: {exc.strerror or exc}"], err)
            return ExitStatus.FAILED
        relay.record(recording)
    try:
        say([f"relaying {relay.where()} -> {safe(target)}"
             + (f", recording to {safe(args.record)}" if args.record else "") + " (Ctrl+C to stop)"], err)
        while True:
            time.sleep(1)  # interruptible by Ctrl+C everywhere (an Event.wait() is not, on some systems)
    except KeyboardInterrupt:
        pass
    finally:
        relay.stop()  # and the recording finished
    summary = f"relay stopped: {relay.numbered} connections, {relay.sent} bytes >, {relay.received} bytes <"
    if recording is not None:
        summary += f"; {recording.written} written to {safe(args.record)}"
        if recording.failed:
            summary += f"; {safe(recording.failed)}"
    say([summary], err)
    return ExitStatus.OK
