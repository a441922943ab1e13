#!/usr/bin/env python3
"""Loopback peers for scripts/bench.py (also handy by hand).

    python scripts/producer.py bulk --bytes N   send N bytes to each client, then close
    python scripts/producer.py bulk --sendfile  the same with sendfile(2) from a tmpfs file
    python scripts/producer.py echo             echo every byte back (a thread per client)
    python scripts/producer.py tls --bytes N    bulk over TLS (the lab's certificate for localhost)

Each listens on 127.0.0.1 (port 0 = any free port, or --port) and prints
"port P" on the first line of stdout. `bulk` then prints, per connection,
"done BYTES SECONDS": the time from accept() until the client closed its
side after the last byte was sent, i.e. the transfer as the client saw it,
without the client's own start-up time. The same producer serves every
client being compared, so they all get the same stream.

The bulk payload is one buffer of random bytes (--block, 1 MiB by default)
sent again and again with sendall: it stays in the CPU cache, so each send
is one copy from cache into the socket. On the 2-core VM of docs/bench.md
that is 2-3x faster than sendfile of a 16 MiB block from /dev/shm (the old
producer, kept as --sendfile for comparison), which capped every receiver
at ~1.9 GB/s and made every ratio ~1.0.

`tls` is `bulk` over TLS with netrepl's lab-only certificate and key
(netrepl/lab/certs/), TLS 1.2 or 1.3 as the client offers; it ends with
close_notify and prints "done BYTES SECONDS HANDSHAKE": HANDSHAKE is the
time from accept() until its handshake completed, the handshake as the
server saw it (the same measure for every client).

Only loopback: nothing here talks to any other address. Stops on Ctrl-C,
on SIGTERM, or when its standard input is closed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import threading
import time

BLOCK = 1 << 20  # the bulk payload is this block of random bytes, repeated (see the docstring)
SENDFILE_BLOCK = 16 << 20  # --sendfile: a file this size


def listen(port: int) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print(f"port {srv.getsockname()[1]}", flush=True)
    return srv


def payload_file(size: int) -> int:
    """A file descriptor of size random bytes, in tmpfs when there is one (sendfile source)."""
    where = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="netrepl-bench-", dir=where)
    os.unlink(path)  # gone when we exit, whatever happens
    data = os.urandom(size)
    view, done = memoryview(data), 0
    while done < len(data):
        done += os.write(fd, view[done:])
    return fd


def send_buffer(conn: socket.socket, block: memoryview, total: int) -> None:
    """total bytes: the cache-resident block again and again, then its head."""
    full, rest = divmod(total, len(block))
    for _ in range(full):
        conn.sendall(block)
    if rest:
        conn.sendall(block[:rest])


def send_file(conn: socket.socket, fd: int, size: int, total: int) -> None:
    """total bytes: zero-copy sendfile of the file's size bytes, repeated."""
    left, offset, out = total, 0, conn.fileno()
    while left:
        n = os.sendfile(out, fd, offset, min(left, size - offset))
        if n == 0:
            raise ConnectionError("sendfile sent nothing")
        left -= n
        offset = (offset + n) % size


def serve_bulk(srv: socket.socket, total: int, block_size: int, sendfile: bool) -> None:
    if sendfile:
        fd = payload_file(SENDFILE_BLOCK)
        send = lambda conn: send_file(conn, fd, SENDFILE_BLOCK, total)  # noqa: E731
    else:
        block = memoryview(os.urandom(block_size))
        send = lambda conn: send_buffer(conn, block, total)  # noqa: E731
    while True:
        conn, _ = srv.accept()
        started = time.perf_counter()
        try:
            send(conn)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):  # until the client closes: it has read everything
                pass
            print(f"done {total} {time.perf_counter() - started:.6f}", flush=True)
        except OSError as exc:
            print(f"error {exc}", flush=True)
        finally:
            conn.close()


CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "netrepl", "lab", "certs")


def serve_tls(srv: socket.socket, total: int, block_size: int) -> None:
    import ssl  # only this kind needs it

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(CERTS, "localhost.pem"), os.path.join(CERTS, "lab.key"))
    block = memoryview(os.urandom(block_size))
    while True:
        conn, _ = srv.accept()
        started = time.perf_counter()
        try:
            tls = ctx.wrap_socket(conn, server_side=True)  # the handshake, now
            shaken = time.perf_counter() - started
            send_buffer(tls, block, total)
            tls.settimeout(60)
            try:
                tls.unwrap()  # close_notify, then the client's (or its EOF)
            except (OSError, ValueError):
                pass
            print(f"done {total} {time.perf_counter() - started:.6f} {shaken:.6f}", flush=True)
        except OSError as exc:
            print(f"error {exc}", flush=True)
        finally:
            conn.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass


def serve_echo(srv: socket.socket) -> None:
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_echo, args=(conn,), daemon=True).start()


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=("bulk", "echo", "tls"))
    p.add_argument("--bytes", type=int, default=1 << 30, help="bytes sent to each bulk client (default 1 GiB)")
    p.add_argument("--block", type=int, default=BLOCK, help=f"bulk: bytes in the repeated buffer (default {BLOCK})")
    p.add_argument("--sendfile", action="store_true", help=f"bulk: sendfile a {SENDFILE_BLOCK >> 20} MiB tmpfs "
                   "file instead (the old, slower producer)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--watch-stdin", action="store_true", help="exit when standard input is closed")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv = listen(args.port)
    if args.watch_stdin:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    try:
        if args.kind == "bulk":
            if args.sendfile and not hasattr(os, "sendfile"):
                p.error("--sendfile: no os.sendfile on this platform")
            serve_bulk(srv, args.bytes, args.block, args.sendfile)
        elif args.kind == "tls":
            serve_tls(srv, args.bytes, args.block)
        else:
            serve_echo(srv)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
