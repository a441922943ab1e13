"""The http lab kind: an HTTP/1.0 handler for one connection.

GET and HEAD, `Connection: close`, no Date header so transcripts are
byte-identical run to run. A request line with no version (`GET /`,
HTTP/0.9) is answered the 0.9 way: the body only, no status line or headers.
Files come from the server's root (default: the tiny built-in site); a
request never reaches a file outside it (`..`, encoded or not, symlinks).

Hostile clients: the whole request head must arrive within HEAD_TIMEOUT
seconds *in all* (not per recv), so a client dripping a byte a second
(slowloris) is answered 408 and closed at that deadline; a head over
MAX_HEAD bytes is answered 431. A connection over the server's cap gets a
503 from `busy` (sent without blocking, then closed) instead of a thread.
"""

from __future__ import annotations

import mimetypes
import re
import socket
import time
from pathlib import Path
from urllib.parse import unquote

from netrepl.lab.handlers import finish
from netrepl.lab.kinds import HTTP_HEAD_TIMEOUT

SITE = Path(__file__).resolve().parent / "site"
HEAD_TIMEOUT = HTTP_HEAD_TIMEOUT  # seconds for the whole request head (read at call time: tests patch it)
SEND_TIMEOUT = 10.0  # seconds for the whole response (sendall's timeout is a total since Python 3.5)
MAX_HEAD = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def serve(conn: socket.socket, server) -> None:
    """Read one request head (within HEAD_TIMEOUT), answer it, close."""
    try:
        head = read_head(conn, time.monotonic() + HEAD_TIMEOUT)
    except TimeoutError:
        head = 408
    if head == b"":
        return  # connected and closed without a request
    conn.settimeout(SEND_TIMEOUT)
    conn.sendall(response(head, server.root or SITE))
    finish(conn)


def busy(conn: socket.socket) -> None:
    """Over the server's cap: a 503, if the socket buffer takes it at once (it never blocks).

    What the client already sent is read (without waiting) first: closing
    with unread data would send an RST, and the client could lose the 503.
    """
    try:
        conn.setblocking(False)
        conn.send(response(503, SITE, extra="Retry-After: 1\r\n"))
        conn.recv(MAX_HEAD)
    except OSError:  # BlockingIOError: nothing sent yet
        pass


def read_head(conn: socket.socket, deadline: float) -> bytes | int:
    """Read a request head: up to a blank line, or just the request line if that
    is not `METHOD TARGET VERSION` (HTTP/0.9, or garbage to answer with 400 now).
    EOF ends the head early; returns 431 if it grows past MAX_HEAD; raises
    TimeoutError once `deadline` (time.monotonic()) passes."""
    buf = b""
    while True:
        buf = buf.lstrip(b"\r\n")  # RFC 9112: ignore empty lines before the request line
        line_end = buf.find(b"\n")
        if line_end >= 0 and len(buf[:line_end].split()) != 3:
            return buf[:line_end + 1]
        ends = [i for i in (buf.find(b"\n\n"), buf.find(b"\n\r\n")) if i >= 0]
        if ends:
            return buf[:min(ends) + 1]
        if len(buf) > MAX_HEAD:
            return 431
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request head deadline")
        conn.settimeout(left)
        chunk = conn.recv(4096)
        if not chunk:
            return buf
        buf += chunk


def response(head: bytes | int, root: Path, extra: str = "") -> bytes:
    """The whole response to a request head (or to an error status from reading it)."""
    method, bare = "GET", False
    if isinstance(head, int):
        status, path = head, None
    else:
        words = head.decode("latin-1").split("\n", 1)[0].split()
        if len(words) == 2:  # HTTP/0.9: `GET /`
            (method, target), bare = words, True
        elif len(words) == 3 and re.fullmatch(r"HTTP/\d\.\d", words[2]):
            method, target, _ = words
        else:
            method, target = "GET", ""
        status, path = lookup(root, method, target)
    headers = extra
    if status == 200:
        body = path.read_bytes()
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    else:
        text = f"{status} {_REASONS[status]}"
        body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>\n".encode()
        ctype = "text/html"
        if status == 405:
            headers += "Allow: GET, HEAD\r\n"
    body_out = b"" if method == "HEAD" else body
    if bare:
        return body_out
    return (f"HTTP/1.0 {status} {_REASONS[status]}\r\nServer: netrepl-lab\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{headers}"
            "Connection: close\r\n\r\n").encode("latin-1") + body_out


def lookup(root: Path, method: str, target: str) -> tuple[int, Path | None]:
    """(status, file) for a request; never a file outside the root."""
    if not target.startswith("/"):
        return 400, None
    if method not in ("GET", "HEAD"):
        return 405, None
    path = unquote(target.split("?", 1)[0].split("#", 1)[0])  # decode %2e%2e before checking
    if "\0" in path or "\\" in path:
        return 400, None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return 400, None
    try:
        root = root.resolve()
        file = root.joinpath(*parts)
        if file.is_dir():
            file = file / "index.html"
        file = file.resolve()  # follows symlinks, so one pointing out of the root is caught too
        if file.is_relative_to(root) and file.is_file():
            return 200, file
    except (OSError, ValueError):  # e.g. a name too long
        pass
    return 404, None
