"""The dispatcher's asyncio HTTP/1.1 client against scripted servers, on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable

import pytest

from udaconnect_dev.broker.http_pool import BadResponse, Pool

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
Script = Callable[[int, int, bytes], Awaitable[bytes | None]]  # (connection, request number, request) -> answer


def _loops() -> list[Callable[[], asyncio.AbstractEventLoop]]:
    loops: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
    try:
        import uvloop

        loops.append(uvloop.new_event_loop)
    except ImportError:
        pass
    return loops


@pytest.fixture(params=_loops(), ids=lambda f: f.__module__.split(".")[0])
def run(request):
    def run(coroutine):
        with asyncio.Runner(loop_factory=request.param) as runner:
            return runner.run(coroutine)

    return run


class Server:
    """Reads whole requests (Content-Length framed); `script` answers each (None: close without answering)."""

    def __init__(self, script: Script) -> None:
        self.script, self.connections, self.requests = script, 0, 0

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/sink?x=1"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                self.requests += 1
                answer = await self.script(connection, self.requests, request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def answering(answer: bytes) -> Script:
    async def script(connection: int, number: int, request: bytes) -> bytes:
        return answer

    return script


def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given(run):
    seen: list[bytes] = []

    async def script(connection: int, number: int, request: bytes) -> bytes:
        seen.append(request)
        return NO_CONTENT

    async def main():
        async with Server(script) as url:
            pool = Pool(url, 4)
            answers = [await pool.post(b"ce-id: a\r\n", b"{}", 5) for _ in range(3)]
            pool.close()
            return answers

    answers = run(main())
    assert [a.status for a in answers] == [204, 204, 204] and all(a.body == b"" for a in answers)
    assert seen[0].startswith(b"POST /sink?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nContent-Length: 2\r\nce-id: a\r\n\r\n{}" in seen[0]


def test_a_kept_alive_connection_the_server_closed_is_retried_once_on_a_fresh_one(run):
    server = Server(answering(NO_CONTENT))

    async def closing(connection: int, number: int, request: bytes) -> bytes | None:
        return None if number == 2 else NO_CONTENT  # the second request finds its connection closed

    async def main():
        server.script = closing
        async with server as url:
            pool = Pool(url, 1)
            first = await pool.post(b"", b"", 5)
            second = await pool.post(b"", b"", 5)
            return first.status, second.status

    assert run(main()) == (204, 204)
    assert server.connections == 2 and server.requests == 3  # one retry on a second connection


def test_a_fresh_connection_closed_before_an_answer_is_not_retried(run):
    server = Server(answering(b""))

    async def never(connection: int, number: int, request: bytes) -> None:
        return None

    async def main():
        server.script = never
        async with server as url:
            with pytest.raises(ConnectionError):
                await Pool(url, 1).post(b"", b"", 5)

    run(main())
    assert server.requests == 1


def test_no_answer_in_time_is_a_timeout_and_the_slot_is_freed(run):
    async def slow(connection: int, number: int, request: bytes) -> bytes:
        if number == 1:
            await asyncio.Event().wait()  # never answers: only the pool's timeout ends the first request
        return NO_CONTENT

    async def main():
        async with Server(slow) as url:
            pool = Pool(url, 1)
            began = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pool.post(b"", b"", 0.1), 10)
            took = time.monotonic() - began
            return took, (await pool.post(b"", b"", 5)).status

    took, status = run(main())
    assert 0.09 < took < 5 and status == 204  # the pool's 0.1 s, not the guard's 10 s


@pytest.mark.parametrize(
    "answer, body",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nT: 1\r\n\r\n",
            b"hello",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", b"hi"),
    ],
    ids=["content-length", "chunked", "interim-100"],
)
def test_bodies_framed_by_length_or_chunks_keep_the_connection(run, answer, body):
    server = Server(answering(answer))

    async def main():
        async with server as url:
            pool = Pool(url, 1)
            return [await pool.post(b"", b"x", 5) for _ in range(2)]

    assert [(a.status, a.body) for a in run(main())] == [(200, body), (200, body)]
    assert server.connections == 1


def test_a_body_ending_at_close_and_connection_close_are_not_reused(run):
    answers = iter(
        [b"HTTP/1.0 200 OK\r\n\r\nuntil close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n!"]
    )

    async def script(connection: int, number: int, request: bytes) -> bytes | None:
        return next(answers, None)

    server = Server(script)

    async def main():
        async with server as url:
            pool = Pool(url, 1)
            return [(await pool.post(b"", b"", 5)).body for _ in range(2)]

    original = server._serve

    async def close_after_answer(reader, writer):  # an HTTP/1.0 server closes once it has answered
        original_write = writer.write
        writer.write = lambda data: (original_write(data), writer.close())
        await original(reader, writer)

    server._serve = close_after_answer
    assert run(main()) == [b"until close", b"!"]
    assert server.connections == 2


def test_a_reply_cloudevent_comes_back_with_lower_case_headers(run):
    reply = (
        b"HTTP/1.1 200 OK\r\nCe-Specversion: 1.0\r\nCe-Id: r1\r\nCe-Source: /r\r\nCe-Type: io.test.reply.v1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'
    )

    async def main():
        async with Server(answering(reply)) as url:
            return await Pool(url, 1).post(b"", b"", 5)

    answer = run(main())
    assert answer.headers["ce-id"] == "r1" and answer.headers["content-type"] == "application/json"
    assert answer.body == b'{"ok": true}'


def test_not_http_is_a_connection_error_and_refused_is_too(run):
    async def main():
        async with Server(answering(b"SSH-2.0-OpenSSH\r\n\r\n")) as url:
            with pytest.raises(BadResponse):
                await Pool(url, 1).post(b"", b"", 5)
        with pytest.raises(ConnectionError):
            await Pool(url, 1).post(b"", b"", 5)  # the server is gone

    run(main())


def test_requests_beyond_the_limit_wait_for_a_connection(run):
    busy = {"now": 0, "max": 0}

    async def slow(connection: int, number: int, request: bytes) -> bytes:
        busy["now"] += 1
        busy["max"] = max(busy["max"], busy["now"])
        await asyncio.sleep(0.02)  # a slow answer, so the 20 requests overlap (not a wait for anything)
        busy["now"] -= 1
        return NO_CONTENT

    server = Server(slow)

    async def main():
        async with server as url:
            pool = Pool(url, 3)
            answers = await asyncio.gather(*(pool.post(b"", b"", 5) for _ in range(20)))
            return [a.status for a in answers], pool.opened, len(pool.idle)

    statuses, opened, idle = run(main())
    assert statuses == [204] * 20 and busy["max"] == 3 and server.connections == 3
    assert opened == idle == 3


def test_cancelled_requests_give_their_connection_back(run):
    async def main():
        arrived = collections.defaultdict(asyncio.Event)
        answer_first = asyncio.Event()

        async def held(connection: int, number: int, request: bytes) -> bytes:
            arrived[number].set()
            if number == 1:
                await answer_first.wait()
            elif number == 2:
                await asyncio.Event().wait()  # never answered: cancelled while its answer is awaited
            return NO_CONTENT

        async with Server(held) as url:
            pool = Pool(url, 1)
            running = asyncio.ensure_future(pool.post(b"", b"", 5))
            waiting = asyncio.ensure_future(pool.post(b"", b"", 5))
            await asyncio.wait_for(arrived[1].wait(), 5)  # the one connection is running's
            assert not waiting.done()
            waiting.cancel()  # as a drain gives up on it: while it waits for a connection
            answer_first.set()
            first = await running
            cut = asyncio.ensure_future(pool.post(b"", b"", 5))
            await asyncio.wait_for(arrived[2].wait(), 5)
            cut.cancel()  # while its answer is awaited: that connection is dropped
            last = await pool.post(b"", b"", 5)
            return first.status, waiting.cancelled(), cut.cancelled(), last.status, pool.opened

    assert run(main()) == (204, True, True, 204, 1)
