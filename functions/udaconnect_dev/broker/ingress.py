"""The broker's HTTP ingress, a Starlette app served by uvicorn on its own thread: POST /<namespace>/<broker> writes a
CloudEvent (binary or structured mode) to the broker topic.

202 once Kafka acknowledged it, 400 not a valid CloudEvent, 404 unknown broker path, 405 not POST, 503 Kafka write
failed or the broker stopping. GET /health and GET /status are local additions for the stack and the CLI.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from udaconnect.events.http_binding import from_http
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.errors import InvalidEvent, WriteError

log = logging.getLogger(__name__)


class Ingress:
    """`start()` returns once it listens; `stop()` refuses new events (503), lets requests under way finish and
    closes every connection, kept-alive ones included."""

    def __init__(
        self,
        address: tuple[str, int],
        topics: Mapping[str, str],
        writer: KafkaWriter,
        status: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.topics, self.writer, self.status = dict(topics), writer, status
        self.closing = False
        # Bound here, so the port is known (and taken) before start(); publishers open many connections at once.
        self.socket = socket.create_server(address, backlog=256)
        app = Starlette(
            routes=[
                Route("/health", lambda _: JSONResponse({"status": "ok"})),
                Route("/status", self._status),
                Route("/{path:path}", self._post, methods=["POST"]),
            ],
            exception_handlers={405: _not_allowed},
        )
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="broker-ingress", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the broker ingress did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.closing = True  # a request that slips in meanwhile gets 503
        self.server.should_exit = True
        self._thread.join(10)
        self.socket.close()

    def _status(self, request: Request) -> JSONResponse:
        return JSONResponse(self.status())  # a plain function: Starlette runs it on its thread pool

    async def _post(self, request: Request) -> Response:
        body = await request.body()
        if self.closing:
            return JSONResponse({"error": "the broker is stopping"}, 503, headers={"Connection": "close"})
        topic = self.topics.get("/" + request.path_params["path"].rstrip("/"))
        if topic is None:
            return JSONResponse({"error": f"no broker at {request.url.path}"}, 404)
        try:
            event = from_http(request.headers, body)
            await run_in_threadpool(self.writer.write, topic, event)  # waits for Kafka's acks
        except InvalidEvent as exc:
            return JSONResponse({"error": str(exc)}, 400)
        except WriteError as exc:
            log.error("ingress: %s", exc)
            return JSONResponse({"error": "the event could not be stored"}, 503)
        return Response(status_code=202)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": "only POST is allowed"}, 405, headers={"Allow": "POST"})
