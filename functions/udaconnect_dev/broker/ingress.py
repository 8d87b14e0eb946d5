"""The broker's HTTP ingress: POST /<namespace>/<broker> writes a CloudEvent to the broker topic.

202 once Kafka acknowledged it, 400 not a valid CloudEvent, 404 unknown broker path, 405 not POST,
503 Kafka write failed. GET /health and GET /status are local additions for the stack and the CLI.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from udaconnect.events.http_binding import from_http
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.errors import InvalidEvent, WriteError

log = logging.getLogger(__name__)


class Ingress(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # publishers open many connections at once; the default backlog of 5 resets them

    def __init__(
        self,
        address: tuple[str, int],
        topics: Mapping[str, str],
        writer: KafkaWriter,
        status: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.topics, self.writer, self.status = dict(topics), writer, status
        self.closing = False
        super().__init__(address, _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name="broker-ingress", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.closing = True  # kept-alive connections outlive shutdown(): their requests now get 503
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Ingress
    protocol_version = "HTTP/1.1"  # keep-alive: publishers reuse connections

    def do_POST(self) -> None:
        body = self._body()
        if self.server.closing:
            self.close_connection = True
            return self._answer(503, {"error": "the broker is stopping"})
        topic = self.server.topics.get(self.path.split("?")[0].rstrip("/"))
        if topic is None:
            return self._answer(404, {"error": f"no broker at {self.path}"})
        try:
            event = from_http(dict(self.headers.items()), body)
            self.server.writer.write(topic, event)
        except InvalidEvent as exc:
            return self._answer(400, {"error": str(exc)})
        except WriteError as exc:
            log.error("ingress: %s", exc)
            return self._answer(503, {"error": "the event could not be stored"})
        self._answer(202, None)

    def do_GET(self) -> None:
        if self.path == "/health":
            return self._answer(200, {"status": "ok"})
        if self.path == "/status":
            return self._answer(200, self.server.status())
        self._not_allowed()

    def _not_allowed(self) -> None:
        self._body()
        self._answer(405, {"error": "only POST is allowed"}, {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("ingress: " + format, *args)
