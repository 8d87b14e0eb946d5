"""The dispatcher's asyncio HTTP/1.1 POST client: keep-alive connections to one origin, bounded, each answer parsed
by httptools (llhttp, the parser uvicorn uses).

Why not aiohttp's client: `python -m udaconnect_dev.bench http-client` (uvloop, 20k POSTs to the dispatch bench's 204
subscriber) measured on 2026-12-01, 2 cores: this pool 28-35 us of CPU per POST, aiohttp 96-209 us, httpx2's
AsyncClient 856 us (32-256 POSTs at once), while the whole broker spends ~80-100 us per event (`bench dispatch`). So
the pool and its protocol glue stay here; the HTTP parsing is httptools' (the hand parser it replaced measured the
same, +-3 us).

Errors are OSError, as from a blocking POST: TimeoutError (no whole answer in time), ConnectionError (refused,
reset, closed early; BadResponse for an answer that is not HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class BadResponse(ConnectionError):
    """The peer answered something that is not HTTP/1.x."""


class Closed(ConnectionResetError):
    """The server closed the connection; `before_answer`: before a byte of the answer (a stale kept-alive one)."""

    def __init__(self, before_answer: bool, message: str) -> None:
        super().__init__(message)
        self.before_answer = before_answer


class Connection(asyncio.Protocol):
    """One request at a time; `answer` resolves with the Response or an OSError. httptools calls the on_* methods."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[Response] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.status = 0
        self.heard = False  # a byte of the answer arrived
        self.closed = False
        self.reuse = False  # whether the server may take another request on it

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, loop: asyncio.AbstractEventLoop, request: bytes) -> asyncio.Future[Response]:
        self.answer, self.reuse, self.heard, self.status = loop.create_future(), False, False, 0
        self.transport.write(request)
        return self.answer

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.answer.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        self.heard = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(BadResponse(f"not an HTTP/1.x answer: {exc}"))

    # httptools' callbacks
    def on_message_begin(self) -> None:
        if self.answer is None or self.answer.done():
            self.reuse = False  # a second answer to one request: out of step
        self.headers, self.body = {}, []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:
            return  # 1xx interim answers are skipped
        reuse = self.parser.should_keep_alive()
        self._complete(reuse)

    def _complete(self, reuse: bool) -> None:
        self.reuse = reuse and not self.closed
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(Response(self.status, self.headers, b"".join(self.body)))

    def fail(self, exc: OSError) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)
        self.abort()

    def time_out(self) -> None:
        self.fail(TimeoutError("no answer in time"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.reuse = True, False
        if self.answer is None or self.answer.done():
            return
        headers = self.headers
        if self.status >= 200 and "content-length" not in headers and "transfer-encoding" not in headers:
            self._complete(False)  # a body framed by the connection's close
        else:
            self.answer.set_exception(
                Closed(not self.heard, f"the server closed the connection before answering: {exc}")
            )


class Pool:
    """POSTs to one URL over at most `limit` connections; requests beyond wait for a free one."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host, self.limit = parts.hostname, max(limit, 1)
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.prefix = f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode()
        self.idle: list[Connection] = []
        self.opened = 0  # connections open or being opened, idle ones included
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()

    async def post(self, headers: bytes, body: bytes, timeout: float) -> Response:
        """`headers`: encoded header lines, each ending in CRLF (Host and Content-Length are added)."""
        request = b"%sContent-Length: %d\r\n%s\r\n%s" % (self.prefix, len(body), headers, body)
        loop = asyncio.get_running_loop()
        conn = await self._acquire(loop)
        reused = conn is not None
        try:
            while True:
                deadline = loop.time() + timeout
                try:
                    if conn is None:
                        conn = await self._open(loop, timeout)
                    answer = await self._exchange(loop, conn, request, deadline)
                except Closed as exc:
                    # A kept-alive connection the server closed meanwhile fails before any answer: once afresh.
                    if not (reused and exc.before_answer):
                        raise
                    conn, reused = None, False
                    continue
                if not conn.reuse:
                    conn.abort()
                self._release(conn if conn.reuse else None)
                return answer
        except BaseException:
            if conn is not None:
                conn.abort()
            self._release(None)
            raise

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> Connection | None:
        """A live idle connection, or None: a free slot to open one in."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.opened -= 1
        if self.opened < self.limit:
            self.opened += 1
            return None
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled: pass it on
                got = waiter.result()
                self._release(got if got is not None and not got.closed else None)
            else:
                with contextlib.suppress(ValueError):  # _release may have dropped it already
                    self.waiters.remove(waiter)
            raise

    def _release(self, conn: Connection | None) -> None:
        """Give back a slot: with a reusable connection, or None when it was closed."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            self.opened -= 1
        else:
            self.idle.append(conn)

    async def _open(self, loop: asyncio.AbstractEventLoop, timeout: float) -> Connection:
        connecting = loop.create_connection(Connection, self.host, self.port, ssl=self.ssl)
        _, conn = await asyncio.wait_for(connecting, timeout)
        return conn

    async def _exchange(
        self, loop: asyncio.AbstractEventLoop, conn: Connection, request: bytes, deadline: float
    ) -> Response:
        if conn.closed:
            raise Closed(True, "the server closed the kept-alive connection")
        answer = conn.send(loop, request)
        timer = loop.call_at(deadline, conn.time_out)
        try:
            return await answer
        finally:
            timer.cancel()

    def close(self) -> None:
        for conn in self.idle:
            conn.abort()
        self.idle.clear()
