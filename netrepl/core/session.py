"""The session socket and its state. Never prints: every method returns a Result.

Each public method is one socket operation (or a lookup) and reports what
happened and the state after it. Ctrl-C (KeyboardInterrupt) during a
blocking call is caught here so the state stays accurate.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable

# typing is annotation-only here: `TYPE_CHECKING = False` keeps its ~2 ms import off
# `netrepl -c` start-up; mypy and pyright treat the name as true (docs/bench.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

from netrepl.core.errors import classify, failure
from netrepl.language.parser import Expectation
from netrepl.core.results import Elapsed, Endpoint, ErrorInfo, Result

DEFAULT_TIMEOUT = 10.0
RECV_ALL_CHUNK = 1 << 20  # recv_into buffer for `recv all`: big reads keep up with loopback
INBOX_LIMIT = 1 << 20  # received bytes kept for `expect` (oldest dropped first)
LINE_LIMIT = 1 << 16  # `recv line` gives up on a line longer than this

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
_FAMILY_NAMES = {v: k for k, v in FAMILIES.items()}
_TYPE_NAMES = {v: k for k, v in TYPES.items()}
SHUT_NAMES = {socket.SHUT_RD: "read side", socket.SHUT_WR: "write side", socket.SHUT_RDWR: "both sides"}
# Errors after which the connection is gone for good.
_LOST = {errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNABORTED, errno.ETIMEDOUT}


def _plural(n: int, word: str = "byte") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Session:
    def __init__(self, timeout: float | None = DEFAULT_TIMEOUT):
        self.sock: socket.socket | None = None
        self.timeout = timeout
        self.eol = b"\r\n"
        self.display = "text"
        self.sent = 0
        self.received = 0
        self.inbox = bytearray()  # received, not yet matched by `expect`
        self.gone: str | None = None  # why there is no socket, when not `close`
        self._reset_flags()
        self.was_closed = False

    def _reset_flags(self) -> None:
        self.connected = False
        self.peer: Endpoint | None = None
        self.local: Endpoint | None = None
        self.wr_shut = False
        self.rd_shut = False
        self.peer_eof = False
        self.lost: str | None = None  # errno name once the connection is gone
        self.connect_failed: str | None = None

    # ----- state -------------------------------------------------------------

    @property
    def proto(self) -> str | None:
        return _TYPE_NAMES.get(self.sock.type) if self.sock else None

    @property
    def family(self) -> str | None:
        return _FAMILY_NAMES.get(self.sock.family) if self.sock else None

    def state(self) -> str:
        """The state in words, e.g. 'tcp connected, write side shut'."""
        if self.sock is None:
            return "closed" if self.was_closed else "no socket"
        proto = self.proto  # once: sock.type builds an enum each time, and this runs for every command
        words = []
        if self.lost:
            words.append(f"connection lost ({self.lost})")
        elif self.connected:
            words.append("connected" if proto == "tcp" else "default peer set")
        elif self.local is not None:
            words.append("bound")
        else:
            words.append("created")
        if self.connect_failed:
            words.append(f"connect failed ({self.connect_failed})")
        if self.wr_shut and self.rd_shut:
            words.append("both sides shut")
        elif self.wr_shut:
            words.append("write side shut")
        elif self.rd_shut:
            words.append("read side shut")
        if self.peer_eof:
            words.append("peer closed")
        return f"{proto} " + ", ".join(words)

    def _result(self) -> Result:
        return Result(state=self.state())

    def _fail(self, err: ErrorInfo, result: Result | None = None) -> Result:
        result = result or Result()
        result.error = err
        result.state = self.state()
        return result

    def _no_socket(self, op: str) -> Result:
        hint = "it was closed" if self.was_closed else self.gone or "none was created"
        return self._fail(failure("state", op, f"no socket ({hint}); use `socket` or `connect HOST PORT` first"))

    def _os_error(self, exc: BaseException, op: str, result: Result | None = None) -> Result:
        err = classify(exc, op)
        stream = self.connected and self.sock is not None and self.sock.type == socket.SOCK_STREAM
        if stream and err.errno == errno.ENOTCONN and self.wr_shut and self.peer_eof and not self.lost:
            # Both sides sent their FIN: the connection ended normally, nothing was lost.
            (result := result or Result()).say("the connection has already closed normally (both sides shut down)")
        elif stream and err.errno in _LOST and not self.lost:
            self.lost = err.errname  # the first cause; later errors are its consequences
        return self._fail(err, result)

    def _refresh_addresses(self) -> None:
        try:
            self.local = Endpoint.of(self.sock.getsockname(), ephemeral=True)
        except OSError:
            pass
        if self.local is not None and self.local.port == 0:
            self.local = None

    # ----- creating and addressing ---------------------------------------------

    def create(self, family: str = "inet", kind: str = "tcp") -> Result:
        if self.sock is not None:
            return self._fail(failure("state", "socket",
                                      f"a socket is already open ({self.state()}); `close` it first"))
        try:
            self._adopt(socket.socket(FAMILIES[family], TYPES[kind]))
        except OSError as exc:
            return self._fail(classify(exc, "socket"))
        return self._result().say(f"created {family} {kind} socket")

    def _adopt(self, sock: socket.socket) -> None:
        """A new session socket: the timeout set, flags and counters fresh."""
        sock.settimeout(self.timeout)
        self.sock = sock
        self._reset_flags()
        self.was_closed = False
        self.gone = None
        self.sent = self.received = 0
        self.inbox.clear()

    def lookup(self, what: str | int, proto: str = "tcp") -> Result:
        try:
            if isinstance(what, int):
                name = socket.getservbyport(what, proto)
                return self._result().say(f"port {what}/{proto} is service {name!r}")
            port = socket.getservbyname(what, proto)
            return self._result().say(f"service {what!r}/{proto} is port {port}")
        except (OSError, OverflowError) as exc:
            shown = f"port {what}" if isinstance(what, int) else f"service {what!r}"
            return self._fail(failure("service", "lookup", f"couldn't find {shown} for {proto}: {exc}"))

    def _port(self, port: int | str, op: str) -> tuple[int | None, Result | None]:
        if isinstance(port, int):
            return port, None
        proto = self.proto or "tcp"
        try:
            return socket.getservbyname(port, proto), None
        except OSError as exc:
            return None, self._fail(failure("service", op,
                                            f"couldn't find your port: no service {port!r} for {proto} ({exc})"))

    def _resolve(self, host: str, port: int, kind: int, op: str):
        """getaddrinfo; a failure names the host it was looking up."""
        family = self.sock.family if self.sock else socket.AF_UNSPEC
        try:
            return socket.getaddrinfo(host, port, family, kind)
        except socket.gaierror as exc:
            raise socket.gaierror(exc.errno, f"{exc.strerror} (getaddrinfo {host!r})") from None
        except UnicodeError as exc:  # the IDNA codec refuses the name (e.g. a label over 63 characters)
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a valid host name ({exc})") from None

    def connect(self, host: str, port: int | str) -> Result:
        if self.sock is not None and self.connected and self.sock.type == socket.SOCK_STREAM:
            # With a timeout set, CPython's connect() on a connected socket returns
            # success (EISCONN is swallowed) whatever the address: refuse it here.
            peer = f"{self.peer.host}:{self.peer.port}" if self.peer else "its peer"
            now = f"its connection to {peer} was lost ({self.lost})" if self.lost else f"it is connected to {peer}"
            return self._fail(failure("state", "connect", f"{now}; a TCP socket connects once: `close` it first",
                                      errno.EISCONN))
        result = self._result()
        number, bad = self._port(port, "connect")
        if bad:
            return bad
        kind = self.sock.type if self.sock else socket.SOCK_STREAM
        try:
            addresses = self._resolve(host, number, kind, "connect")
        except OSError as exc:
            return self._os_error(exc, "connect", result)
        except KeyboardInterrupt as exc:
            return self._fail(classify(exc, "connect"), result)
        created_here = self.sock is None
        last: Result | None = None
        for i, (family, socktype, proto, _, address) in enumerate(addresses):
            if created_here:
                try:
                    self._adopt(socket.socket(family, socktype, proto))
                except OSError as exc:
                    last = self._os_error(exc, "socket", result)
                    continue
                result.say(f"created {_FAMILY_NAMES.get(family, family)} {_TYPE_NAMES.get(socktype)} socket")
            target = Endpoint.of(address)
            started = time.perf_counter()
            try:
                self.sock.connect(address)
            except (OSError, KeyboardInterrupt) as exc:
                err = classify(exc, "connect")
                if err.errname == "ECONNRESET":  # a refusal is ECONNREFUSED: this handshake completed first
                    result.say("the peer accepted the connection, then reset it before connect() returned")
                if created_here or isinstance(exc, KeyboardInterrupt):
                    self._discard_socket()
                    if created_here and i + 1 < len(addresses) and err.kind != "interrupted":
                        result.say("connect to ", target, f" failed: {err.message}; trying the next address")
                        continue
                    if created_here:
                        result.say("connect to ", target, " failed; closed the socket created for it")
                        self.gone = "the one `connect` created was closed when the connect failed"
                    if not created_here:
                        result.say("the interrupted socket was closed (its connect state is unknown)")
                        self.gone = "the one whose connect was interrupted was closed"
                elif not self.connected:
                    self.connect_failed = err.errname or err.kind
                    if err.kind == "timeout":  # the SYN is still being retransmitted
                        result.say("the kernel keeps trying to connect this socket in the background "
                                   "(a second connect says EALREADY); `close` it to give up")
                return self._fail(err, result)
            elapsed = time.perf_counter() - started
            self.connected = True
            self.connect_failed = None
            self.peer = target
            self._refresh_addresses()
            verb = "connected" if self.sock.type == socket.SOCK_STREAM else "default peer set"
            result.say(f"{verb} ", self.local or "?", " -> ", target, f" ({host}) in ", Elapsed(elapsed))
            result.state = self.state()
            return result
        return last or self._fail(failure("address", "connect", f"no address for {host!r}"), result)

    def bind(self, host: str, port: int | str) -> Result:
        if self.sock is None:
            return self._no_socket("bind")
        number, bad = self._port(port, "bind")
        if bad:
            return bad
        try:
            address = self._resolve(host, number, self.sock.type, "bind")[0][4]
            self.sock.bind(address)
        except OSError as exc:
            return self._os_error(exc, "bind")
        self._refresh_addresses()
        if number:
            self.local = Endpoint(self.local.host, self.local.port, ephemeral=False)
        return self._result().say("bound to ", self.local)

    def _discard_socket(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self._reset_flags()

    def close(self) -> Result:
        if self.sock is None:
            return self._no_socket("close")
        self.close_quietly()
        return self._result().say(f"closed (sent {_plural(self.sent)}, received {_plural(self.received)})")

    def shutdown(self, how: int) -> Result:
        if self.sock is None:
            return self._no_socket("shutdown")
        try:
            self.sock.shutdown(how)
        except OSError as exc:
            result = self._os_error(exc, f"shutdown({how})")
            if self.lost:
                result.say("the connection was lost: data sent earlier may never have reached the peer")
            return result
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.wr_shut = True
        if how in (socket.SHUT_RD, socket.SHUT_RDWR):
            self.rd_shut = True
        return self._result().say(f"shut down the {SHUT_NAMES[how]} (shutdown({how}))")

    def set_timeout(self, seconds: float | None) -> Result:
        self.timeout = seconds
        if self.sock is not None:
            self.sock.settimeout(seconds)
        shown = "none (block until done; Ctrl-C interrupts)" if seconds is None else f"{seconds:g} s"
        return self._result().say(f"timeout set to {shown}")

    # ----- sending -------------------------------------------------------------

    def send(self, data: bytes) -> Result:
        if self.sock is None:
            return self._no_socket("send")
        done = 0
        view = memoryview(data)
        try:
            while done < len(data):  # sendall, counting what went out
                done += self.sock.send(view[done:])
        except (OSError, KeyboardInterrupt) as exc:
            self.sent += done
            result = Result().say(f"sent {done} of {_plural(len(data))} before the error") if done else None
            result = self._os_error(exc, "send", result)
            if not self.connected and self.sock.type == socket.SOCK_STREAM and result.error.kind == "io":
                result.say("the socket was never connected (`connect HOST PORT` first); "
                           "an unconnected TCP socket's send() fails this way")
            return result
        self.sent += done
        return self._result().say(f"sent {_plural(done)}")

    def sendto(self, host: str, port: int | str, data: bytes) -> Result:
        result = self._result()
        if self.sock is None:
            created = self.create("inet6" if ":" in host else "inet", "udp")
            if not created.ok:
                return created
            result.lines += created.lines
        number, bad = self._port(port, "sendto")
        if bad:
            bad.lines[:0] = result.lines  # the socket made above stays: say so
            return bad
        try:
            address = self._resolve(host, number, self.sock.type, "sendto")[0][4]
            count = self.sock.sendto(data, address)
        except (OSError, KeyboardInterrupt) as exc:
            return self._os_error(exc, "sendto", result)
        self.sent += count
        self._refresh_addresses()
        result.say(f"sent {_plural(count)} to ", Endpoint.of(address), " from ", self.local or "?")
        result.state = self.state()
        return result

    # ----- receiving -----------------------------------------------------------

    def _got(self, data: bytes) -> None:
        self.received += len(data)
        self._keep_for_expect(data)

    def _no_more_data(self) -> str:
        """recv gave no data on a stream: the peer's end of stream, unless our own read
        side is shut (then recv returns nothing whatever the peer does). Words for it."""
        if self.rd_shut:
            return "our read side is shut (shutdown 0): recv returns no data whatever the peer does"
        self.peer_eof = True
        return "end of stream: the peer closed its side"

    def recv(self, size: int) -> Result:
        if self.sock is None:
            return self._no_socket("recv")
        offset = self.received
        try:
            data = self.sock.recv(size)
        except (OSError, KeyboardInterrupt) as exc:
            return self._recv_error(exc, "recv")
        if not data:
            if self.sock.type == socket.SOCK_STREAM and self.lost:  # after a reset recv returns b"" too
                return self._result().say(f"no data: the connection was lost earlier ({self.lost}); "
                                          "recv returned no data")
            if self.sock.type == socket.SOCK_STREAM:
                words = self._no_more_data()
                return self._result().say(f"{words} (recv returned no data)")
            return self._result().say("received an empty datagram")
        self._got(data)
        return Result(data=data, data_offset=offset, state=self.state()).say(f"received {_plural(len(data))}")

    def _recv_error(self, exc: BaseException, op: str, result: Result | None = None) -> Result:
        result = self._os_error(exc, op, result)
        if result.error.kind == "timeout":
            still = "the connection" if self.connected and self.proto == "tcp" else "the socket"
            result.say(f"no data within {self.timeout:g} s; {still} is still open")
        return result

    def recvfrom(self, size: int) -> Result:
        if self.sock is None:
            return self._no_socket("recvfrom")
        if self.sock.type == socket.SOCK_STREAM:  # a stream names no sender: recvfrom is recv (and sees EOF)
            return self.recv(size)
        offset = self.received
        try:
            data, address = self.sock.recvfrom(size)
        except (OSError, KeyboardInterrupt) as exc:
            return self._recv_error(exc, "recvfrom")
        self._got(data)
        source = Endpoint.of(address) or str(address)
        return Result(data=data, data_offset=offset, state=self.state()).say(
            f"received {_plural(len(data))} from ", source)

    def recv_all(self, sink: BinaryIO | None = None, path: str | None = None,
                 on_data: Callable[[bytes], object] | None = None) -> Result:
        """recv until end of stream: into `sink` (a file), handed chunk by chunk to
        `on_data` (a front end showing it as it arrives), or kept for the Result.
        The first two run in constant memory."""
        if self.sock is None:
            return self._no_socket("recv all")
        offset = self.received
        buffer = bytearray(RECV_ALL_CHUNK)
        view = memoryview(buffer)
        kept = bytearray()
        total = 0
        started = time.perf_counter()
        recv_into = self.sock.recv_into
        if sink is not None:
            write: Callable = sink.write
        elif on_data is not None:
            def write(chunk, show=on_data):
                data = bytes(chunk)
                self._keep_for_expect(data)
                show(data)
        else:
            write = kept.extend
        try:
            while True:
                n = recv_into(buffer)
                if not n:
                    break
                total += n
                write(view[:n])
        except (OSError, KeyboardInterrupt) as exc:
            self._count_all(kept, total)
            result = Result(data=bytes(kept) or None, data_offset=offset)
            where = f" (written to {path})" if path else ""
            result.say(f"received {_plural(total)} before the error{where}")
            return self._recv_error(exc, "recv all", result)
        elapsed = time.perf_counter() - started
        self._count_all(kept, total)
        until = "until end of stream"
        if self.sock.type == socket.SOCK_STREAM and self._no_more_data().startswith("our read side"):
            until = "until recv returned no data (our read side is shut: shutdown 0)"
        result = Result(data=bytes(kept) or None, data_offset=offset)
        where = f" into {path}" if path else ""
        result.say(f"received {_plural(total)} in total{where} {until}, in ", Elapsed(elapsed))
        result.state = self.state()
        return result

    def _count_all(self, kept: bytearray, total: int) -> None:
        # A stream redirected to a file is not kept for `expect`: constant memory.
        self.received += total
        self._keep_for_expect(kept[-INBOX_LIMIT:])

    def _keep_for_expect(self, data) -> None:
        self.inbox += data
        if len(self.inbox) > INBOX_LIMIT:
            del self.inbox[:len(self.inbox) - INBOX_LIMIT]

    def recv_line(self) -> Result:
        """One line through a file-like object, as the worksheet's section 3 does.

        The file is unbuffered so it never reads past the newline: later
        `recv` calls see every byte after the line.
        """
        if self.sock is None:
            return self._no_socket("recv line")
        offset = self.received
        line = bytearray()
        reader = self.sock.makefile("rb", buffering=0)
        ended = "end of stream"
        try:
            while len(line) < LINE_LIMIT:
                byte = reader.read(1)
                if not byte:
                    ended = self._no_more_data() if self.sock.type == socket.SOCK_STREAM else "end of stream"
                    break
                line += byte
                if byte == b"\n":
                    break
        except (OSError, KeyboardInterrupt) as exc:
            self._got(bytes(line))
            result = Result(data=bytes(line) or None, data_offset=offset)
            if line:
                result.say(f"received {_plural(len(line))} of an unfinished line before the error")
            return self._recv_error(exc, "recv line", result)
        finally:
            reader.close()
        self._got(bytes(line))
        result = Result(data=bytes(line) or None, data_offset=offset, state=self.state())
        if line.endswith(b"\n"):
            result.say(f"received a line of {_plural(len(line))} (makefile().readline)")
        elif len(line) >= LINE_LIMIT:
            result.say(f"received {_plural(len(line))} with no newline yet (line limit)")
        elif line:
            result.say(f"received {_plural(len(line))} with no newline, then {ended}")
        else:
            result.say(f"{ended} (readline returned no data)")
        return result

    # ----- expect ---------------------------------------------------------------

    def expect(self, want: Expectation) -> Result:
        """Wait until received data matches `want` (reading more as needed)."""
        if self.sock is None:
            return self._no_socket("expect")
        offset = self.received
        fresh = bytearray()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            while True:
                end = self._match(want)
                if end is not None:
                    shown = bytes(self.inbox[:end]) if want.kind != "eof" else b""
                    del self.inbox[:end]
                    result = Result(data=bytes(fresh) or None, data_offset=offset, state=self.state())
                    if want.kind == "eof":
                        return result.say("matched end of stream")
                    return result.say(f"matched '{want.source}' ({_plural(len(shown))} consumed)")
                if self.peer_eof:
                    return self._expect_failed(want, fresh, offset, "end of stream came first")
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return self._expect_failed(want, fresh, offset, f"nothing matched within {self.timeout:g} s")
                    self.sock.settimeout(remaining)
                data = self.sock.recv(65536)
                if not data:
                    if self.rd_shut:
                        return self._expect_failed(want, fresh, offset, "our read side is shut (shutdown 0)")
                    self.peer_eof = True
                    continue
                fresh += data
                self._got(data)
        except (OSError, KeyboardInterrupt) as exc:
            if isinstance(exc, TimeoutError):
                return self._expect_failed(want, fresh, offset, f"nothing matched within {self.timeout:g} s")
            return self._recv_error(exc, "expect", Result(data=bytes(fresh) or None, data_offset=offset))
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)

    def _match(self, want: Expectation) -> int | None:
        if want.kind == "eof":
            return len(self.inbox) if self.peer_eof else None
        if want.kind == "regex":
            m = want.pattern.search(self.inbox)
            return m.end() if m else None
        at = self.inbox.find(want.literal)
        return at + len(want.literal) if at >= 0 else None

    def _expect_failed(self, want: Expectation, fresh: bytearray, offset: int, why: str) -> Result:
        tail = bytes(self.inbox[-200:])
        # Decoded as received; the renderer escapes it like any peer text.
        shown = f"'{tail.decode('utf-8', 'surrogateescape')}'" if tail else "nothing"
        message = f"expected '{want.source}' but {why}; unmatched data received: {shown}"
        return self._fail(failure("expect", "expect", message),
                          Result(data=bytes(fresh) or None, data_offset=offset))

    # ----- info -----------------------------------------------------------------

    def info(self) -> Result:
        result = self._result()
        if self.sock is None:
            result.fields = [("state", self.state()), ("timeout", self._timeout_words()),
                             ("sent", _plural(self.sent)), ("received", _plural(self.received))]
            return result
        local: object = self.local or "(not bound)"
        peer: object = self.peer or "(not connected)"
        try:
            name = Endpoint.of(self.sock.getsockname(), ephemeral=self.local is None or self.local.ephemeral)
            local = name if name and name.port else f"not bound ({name.host if name else '?'} port 0)"
        except OSError as exc:
            local = f"getsockname failed: {exc.strerror}"
        try:
            peer = Endpoint.of(self.sock.getpeername()) or peer
        except OSError as exc:
            peer = f"none (getpeername: [{errno.errorcode.get(exc.errno, exc.errno)}] {exc.strerror})"
        result.fields = [
            ("family", f"{self.family} ({socket.AddressFamily(self.sock.family).name})"),
            ("type", f"{self.proto} ({socket.SocketKind(self.sock.type).name})"),
            ("state", self.state()),
            ("local", local),
            ("peer", peer),
            ("timeout", self._timeout_words()),
            ("sent", _plural(self.sent)),
            ("received", _plural(self.received)),
        ]
        return result

    def _timeout_words(self) -> str:
        return "none (blocking)" if self.timeout is None else f"{self.timeout:g} s"

    def sleep(self, seconds: float) -> Result:
        started = time.monotonic()
        try:
            time.sleep(seconds)
        except KeyboardInterrupt as exc:
            result = Result().say(f"slept {time.monotonic() - started:.1f} of {seconds:g} s")
            return self._fail(classify(exc, "sleep"), result)
        return self._result().say(f"slept {seconds:g} s")

    def close_quietly(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self._reset_flags()
            self.was_closed = True
