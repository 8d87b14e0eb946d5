"""The edge's nginx.conf, run by a real nginx on loopback in front of a recording upstream: each route reaches its
function with the function's Knative name as Host and the X-Forwarded-* headers the http{} block promises."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.deploy.conftest import ensure_tool, find


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_each_route_sends_host_and_forwarded_headers(rendered, tmp_path: Path) -> None:
    nginx = ensure_tool("nginx", "nginx-light")
    if nginx is None:
        pytest.skip("nginx is not installed and cannot be here (apt-get install nginx-light)")
    conf = find(rendered["vagrant"], "ConfigMap", "edge-nginx")[0]["data"]["nginx.conf"]
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    web, api = free_port(), free_port()
    # Only what ties the file to a cluster changes: the listen ports, where proxy_pass connects (the upstream
    # name stays in $upstream, so Host is what the cluster would get), the resolver, and writable paths.
    local = conf.replace("listen 8080;", f"listen 127.0.0.1:{web};").replace("listen 8081;", f"listen 127.0.0.1:{api};")
    local, proxies = re.subn(r"proxy_pass http://\$upstream;", f"proxy_pass http://127.0.0.1:{upstream.server_port};",
                             local)
    assert proxies == 3
    local = re.sub(r"(?m)^\s*resolver .*$", "", local).replace("/tmp/", f"{tmp_path}/")
    (tmp_path / "nginx.conf").write_text("user root;\n" + local)
    server = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        expected = {(web, "/api/persons"): "gateway", (web, "/"): "web", (api, "/api/persons"): "gateway"}
        for (port, path), function in expected.items():
            deadline = time.monotonic() + 10
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
                        assert reply.status == 200
                    break
                except OSError:
                    assert server.poll() is None, server.stderr.read().decode()  # type: ignore[union-attr]
                    assert time.monotonic() < deadline, "nginx did not answer within 10 s"
                    time.sleep(0.1)
            headers = Recorder.seen[-1]
            assert headers["host"] == f"{function}.udaconnect.svc.cluster.local", (path, headers)
            assert headers.get("x-forwarded-for") == "127.0.0.1", (path, headers)
            assert headers.get("x-forwarded-proto") == "http", (path, headers)
            assert headers.get("x-forwarded-host") == f"127.0.0.1:{port}", (path, headers)
    finally:
        server.terminate()
        server.wait(timeout=10)
        upstream.shutdown()
