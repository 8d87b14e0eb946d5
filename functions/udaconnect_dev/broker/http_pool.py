"""An asyncio HTTP/1.1 POST client for the dispatcher: one pool of keep-alive connections per origin, bounded.

Errors are OSError, as from a blocking POST: TimeoutError (no whole answer in time), ConnectionError (refused,
reset, closed early; BadResponse for an answer that is not HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from urllib.parse import urlsplit

from udaconnect_dev.broker.http_client import Response
from udaconnect_dev.broker.http_connection import Closed, Connection


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
