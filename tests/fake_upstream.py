"""A fake function for the gateway's tests, served by uvicorn in its own process.

It echoes each request as it arrived (raw path, query, headers, body size) and counts requests per method and
path, arrived (`/seen`) and not yet ended (`/in-flight`); `x-delay: <s>` makes it answer late.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

SEEN: Counter[str] = Counter()
IN_FLIGHT: Counter[str] = Counter()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    path = scope["raw_path"].decode("latin-1")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if path in ("/seen", "/in-flight"):
        return await _answer(send, 200, dict(SEEN if path == "/seen" else +IN_FLIGHT))
    key = f"{scope['method']} {path}"
    SEEN[key] += 1
    IN_FLIGHT[key] += 1
    try:
        await asyncio.sleep(float(headers.get("x-delay", "0")))
        await _answer(send, 200, {"method": scope["method"], "raw_path": path,
                                  "query": scope["query_string"].decode("latin-1"), "body": size, "headers": headers})
    finally:  # answered, or abandoned by the gateway (uvicorn lets the sleep run out: the answer goes nowhere)
        IN_FLIGHT[key] -= 1


async def _answer(send, status: int, body: object) -> None:  # type: ignore[no-untyped-def]
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            # as functions answered before the gateway decided CORS: it must not pass through
                            (b"access-control-allow-origin", b"*")]})
    await send({"type": "http.response.body", "body": data})
