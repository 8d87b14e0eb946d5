"""An asyncio HTTP/1.1 POST client for the dispatcher: one pool of keep-alive connections per origin, bounded.

Errors are OSError, as from http_client.post: TimeoutError (no whole answer in time), ConnectionError (refused,
reset, closed early; BadResponse for an answer that is not HTTP).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from udaconnect.broker.http_client import Response
from udaconnect.broker.http_wire import BadResponse, Head, dechunk, parse_head


class _Connection(asyncio.Protocol):
    """One request at a time; `answer` resolves with the Response or an OSError."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[Response] | None = None
        self.head: Head | None = None
        self.closed = False
        self.reuse = False  # whether the server may take another request on it

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, loop: asyncio.AbstractEventLoop, request: bytes) -> asyncio.Future[Response]:
        self.answer, self.head, self.reuse = loop.create_future(), None, False
        self.buffer.clear()
        self.transport.write(request)
        return self.answer

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.answer is None or self.answer.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        try:
            self._parse()
        except BadResponse as exc:
            self.fail(exc)

    def _parse(self) -> None:
        buffer = self.buffer
        while self.head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = parse_head(buffer[:end])
            del buffer[: end + 4]
            if head.status >= 200:  # 1xx interim answers are skipped
                self.head = head
        head = self.head
        if head.chunked:
            whole = dechunk(buffer, 0)
            if whole is None:
                return
            body, used = whole
        elif head.length is None:
            return  # read until the server closes
        elif len(buffer) < head.length:
            return
        else:
            body, used = bytes(buffer[: head.length]), head.length
        self._complete(head, body, head.keep_alive and used == len(buffer))

    def _complete(self, head: Head, body: bytes, reuse: bool) -> None:
        self.reuse = reuse and not self.closed
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(Response(head.status, head.headers, body))

    def fail(self, exc: OSError) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)
        self.abort()

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
        if self.head is not None and self.head.length is None and not self.head.chunked:
            self._complete(self.head, bytes(self.buffer), False)
        else:
            stale = self.head is None and not self.buffer
            self.answer.set_exception(_Closed(stale, f"the server closed the connection before answering: {exc}"))


class _Closed(ConnectionResetError):
    def __init__(self, before_answer: bool, message: str) -> None:
        super().__init__(message)
        self.before_answer = before_answer


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
        self.idle: list[_Connection] = []
        self.opened = 0  # connections open or being opened, idle ones included
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()

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
                except _Closed as exc:
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

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        """A live idle connection, or None: a free slot to open one in."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.opened -= 1
        if self.opened < self.limit:
            self.opened += 1
            return None
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled: pass it on
                got = waiter.result()
                self._release(got if got is not None and not got.closed else None)
            else:
                self.waiters.remove(waiter)
            raise

    def _release(self, conn: _Connection | None) -> None:
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

    async def _open(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _Connection:
        connecting = loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl)
        _, conn = await asyncio.wait_for(connecting, timeout)
        return conn

    async def _exchange(
        self, loop: asyncio.AbstractEventLoop, conn: _Connection, request: bytes, deadline: float
    ) -> Response:
        if conn.closed:
            raise _Closed(True, "the server closed the kept-alive connection")
        answer = conn.send(loop, request)
        timer = loop.call_at(deadline, conn.fail, TimeoutError("no answer in time"))
        try:
            return await answer
        finally:
            timer.cancel()

    def close(self) -> None:
        for conn in self.idle:
            conn.abort()
        self.idle.clear()
