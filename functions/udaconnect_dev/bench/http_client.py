"""`python -m udaconnect_dev.bench http-client`: the dispatcher's POST client (broker/http_pool.py) against aiohttp's
and httpx2's async clients: CPU us per POST and POSTs/s, on uvloop, to the dispatch bench's 204 subscriber (its own
process: its CPU is not counted). The measurement behind keeping http_pool.py (house rule 10)."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from udaconnect.ports import answers, free_port
from udaconnect_dev.bench.dispatch import PAYLOAD, SUBSCRIBER

HEADERS = {"ce-specversion": "1.0", "ce-id": "bench-1", "ce-source": "/devices/d1",
           "ce-type": "io.udaconnect.location.reported.v1", "content-type": "application/json", "prefer": "reply"}
Post = Callable[[], Awaitable[None]]


async def _pool(url: str, limit: int) -> tuple[Post, Callable[[], Any]]:
    from udaconnect_dev.broker.http_pool import Pool

    pool, head, body = Pool(url, limit), "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items()).encode(), PAYLOAD % 1

    async def post() -> None:
        assert (await pool.post(head, body, 10.0)).status == 204

    return post, pool.close


async def _aiohttp(url: str, limit: int) -> tuple[Post, Callable[[], Any]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit),
                                    timeout=aiohttp.ClientTimeout(total=10),
                                    skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"))

    async def post() -> None:
        async with session.post(url, data=PAYLOAD % 1, headers=HEADERS) as answer:
            await answer.read()
            assert answer.status == 204

    return post, session.close


async def _httpx2(url: str, limit: int) -> tuple[Post, Callable[[], Any]]:
    import httpx2

    client = httpx2.AsyncClient(timeout=10, limits=httpx2.Limits(max_connections=limit,
                                                                  max_keepalive_connections=limit))

    async def post() -> None:
        assert (await client.post(url, content=PAYLOAD % 1, headers=HEADERS)).status_code == 204

    return post, client.aclose


CLIENTS = {"http_pool": _pool, "aiohttp": _aiohttp, "httpx2": _httpx2}


async def measure(client: str, url: str, count: int, limit: int) -> dict[str, Any]:
    post, close = await CLIENTS[client](url, limit)
    gate = asyncio.Semaphore(limit)

    async def one() -> None:
        async with gate:
            await post()

    await asyncio.gather(*(one() for _ in range(min(count, 1000))))  # connections opened, code warm
    cpu, began = time.process_time(), time.monotonic()
    await asyncio.gather(*(one() for _ in range(count)))
    cpu, seconds = time.process_time() - cpu, time.monotonic() - began
    closed = close()
    if asyncio.iscoroutine(closed):
        await closed
    return {"cpu_us_per_post": round(cpu / count * 1e6, 1), "posts_per_s": round(count / seconds)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.bench http-client", description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256, help="POSTs at once (the broker's workers)")
    parser.add_argument("--clients", default="http_pool,aiohttp", help=f"comma-separated, of {', '.join(CLIENTS)}")
    args = parser.parse_args(argv)
    import uvloop

    port = free_port()
    subscriber = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise RuntimeError("the subscriber did not start")
            time.sleep(0.05)
        results: dict[str, dict[str, Any]] = {}
        for client in args.clients.split(","):
            try:
                results[client] = uvloop.run(measure(client, f"http://127.0.0.1:{port}/", args.posts,
                                                     args.concurrency))
            except ImportError as error:
                results[client] = {"skipped": str(error)}
        print(json.dumps({"posts": args.posts, "concurrency": args.concurrency, **results}, indent=2))
    finally:
        subscriber.terminate()
        subscriber.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
