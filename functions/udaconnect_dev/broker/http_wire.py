"""HTTP/1.1 response parsing for the asyncio client: status line, headers, and a body framed by Content-Length,
chunked encoding or the connection's close."""

from __future__ import annotations

from dataclasses import dataclass

NO_BODY = frozenset({204, 304})


class BadResponse(ConnectionError):
    """The peer answered something that is not HTTP/1.x."""


@dataclass
class Head:
    status: int
    headers: dict[str, str]
    keep_alive: bool
    length: int | None  # None: chunked (see `chunked`) or read until the connection closes
    chunked: bool


def parse_head(raw: bytes | bytearray, body_allowed: bool = True) -> Head:
    """`raw`: the bytes before the blank line ending the head."""
    lines = bytes(raw).decode("latin-1").split("\r\n")
    try:
        version, code = lines[0].split(" ", 2)[:2]
        status = int(code)
    except ValueError:
        raise BadResponse(f"not an HTTP status line: {lines[0][:80]!r}") from None
    if not version.startswith("HTTP/1."):
        raise BadResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if status < 200 or status in NO_BODY or not body_allowed:
        return Head(status, headers, keep_alive, 0, False)
    if chunked:
        return Head(status, headers, keep_alive, None, True)
    length = headers.get("content-length")
    if length is None:
        return Head(status, headers, False, None, False)  # the body ends when the server closes
    try:
        size = int(length)
    except ValueError:
        raise BadResponse(f"bad Content-Length {length!r}") from None
    if size < 0:
        raise BadResponse(f"bad Content-Length {length!r}")
    return Head(status, headers, keep_alive, size, False)


def dechunk(buffer: bytes | bytearray, start: int) -> tuple[bytes, int] | None:
    """The body of a chunked message beginning at `start` and the offset just past it (trailers included),
    or None while incomplete."""
    body, at = [], start
    while True:
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return None
        try:
            size = int(bytes(buffer[at:end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadResponse("bad chunk size") from None
        at = end + 2
        if size == 0:
            break
        if len(buffer) < at + size + 2:
            return None
        body.append(bytes(buffer[at : at + size]))
        at += size + 2
    while True:  # trailer lines, up to an empty one
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return None
        if end == at:
            return b"".join(body), end + 2
        at = end + 2
