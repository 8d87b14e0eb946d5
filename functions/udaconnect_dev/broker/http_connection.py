"""One client HTTP/1.1 connection as an asyncio Protocol: one request at a time, the answer parsed as it arrives."""

from __future__ import annotations

import asyncio
from typing import Any

from udaconnect_dev.broker.http_client import Response
from udaconnect_dev.broker.http_wire import BadResponse, Head, dechunk, parse_head


class Connection(asyncio.Protocol):
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
        if self.head is not None and self.head.length is None and not self.head.chunked:
            self._complete(self.head, bytes(self.buffer), False)
        else:
            stale = self.head is None and not self.buffer
            self.answer.set_exception(Closed(stale, f"the server closed the connection before answering: {exc}"))


class Closed(ConnectionResetError):
    """The server closed the connection; `before_answer`: before a byte of the answer (a stale kept-alive one)."""

    def __init__(self, before_answer: bool, message: str) -> None:
        super().__init__(message)
        self.before_answer = before_answer
