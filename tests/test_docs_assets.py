"""The API docs page: its files are served by exact name only, and it renders a real OpenAPI document."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from udaconnect.docs import asset, names
from udaconnect.openapi import document
from udaconnect.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ORIGINAL_OPENAPI = PROJECT_ROOT.parent / "shared" / "reference" / "udaconnect-original" / "open_api.yaml"
TAKO = {"id": 5, "first_name": "Taco", "last_name": "Fargo", "company_name": "Alpha Omega Upholstery"}


def test_serves_the_page_and_its_assets_with_their_types():
    page, content_type = asset("index.html")
    assert content_type == "text/html; charset=utf-8" and asset("") == (page, content_type)
    assert asset("docs.js")[1] == "text/javascript; charset=utf-8"
    assert asset("docs.css")[1] == "text/css; charset=utf-8"
    assert {"index.html", "docs.js", "docs.css", "tryit.js"} <= set(names())
    # every script and stylesheet the page loads is one of ours, by a relative name we serve
    html = page.decode()
    linked = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert linked and all(asset(name) for name in linked if not name.startswith(("../", "data:")))


def test_no_third_party_assets():
    for name in names():
        text = asset(name)[0].decode()
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text), name
        assert not re.search(r"""(?:import|fetch)\s*\(\s*["'](?:https?:)?//""", text), name
        assert "@import" not in text and "url(http" not in text, name


@pytest.mark.parametrize(
    "name",
    [
        "../__init__.py",
        "..%2F__init__.py",
        "/etc/passwd",
        "static/index.html",
        "./index.html",
        "index.html/../docs.js",
        "..",
        ".",
        "index.html\x00.js",
        "INDEX.HTML",
        "docs.js?x=1",
        "\\..\\__init__.py",
    ],
)
def test_refuses_anything_but_an_exact_asset_name(name):
    assert asset(name) is None


class _Site(BaseHTTPRequestHandler):
    """The paths the page uses, as the persons target serves them, plus one API answer for "try it"."""

    spec: dict = {}

    def do_GET(self):  # noqa: N802 - the http.server protocol
        path = self.path.split("?")[0]
        if path.startswith("/api/docs/"):
            found = asset(path.removeprefix("/api/docs/"))
            return self._send(200, *found) if found else self._send(404, b"{}", "application/problem+json")
        if path == "/api/openapi.json":
            return self._send(200, json.dumps(self.spec).encode(), "application/json")
        if path == "/api/persons/5":
            return self._send(200, json.dumps(TAKO).encode(), "application/json")
        return self._send(404, b'{"title": "Not Found", "status": 404}', "application/problem+json")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def _specs() -> list:
    specs = [pytest.param(document(), id="udaconnect")]
    if ORIGINAL_OPENAPI.exists():
        import yaml

        specs.append(pytest.param(yaml.safe_load(ORIGINAL_OPENAPI.read_text()), id="original-3.0"))
    return specs


@pytest.mark.parametrize("spec", _specs())
def test_page_renders_the_openapi_document_without_errors(browser, spec):
    _Site.spec = spec
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    page = browser.new_page()
    errors, requests = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(f"{origin}/api/docs/")
        page.wait_for_selector("body[data-ready]", timeout=10_000)
        assert page.get_attribute("body", "data-ready") == "true"
        operations = [(path, m) for path, item in spec["paths"].items() for m in item if m in ("get", "post")]
        assert page.locator("section.operation").count() == len(operations)
        text = page.inner_text("main")
        for path, _method in operations:
            assert path in text
        for name in spec.get("components", {}).get("schemas", {}):
            assert page.locator(f"#schema-{name}").count() == 1
            for field in spec["components"]["schemas"][name].get("properties", {}):
                assert field in page.inner_text(f"#schema-{name}")
        if spec is document():  # our document: parameters, constraints and a working "try it"
            connection = page.locator("#op-findConnections")
            for name in ("start_date", "end_date", "distance", "window", "limit", "person_id"):
                assert name in connection.inner_text()
            assert "exclusiveMinimum: 0" in connection.inner_text()
            assert "application/geo+json" in connection.inner_text()
            form = page.locator("#op-getPerson form.tryit")
            form.locator("input[name=person_id]").fill("5")
            form.locator("button").click()
            form.locator("pre.body").wait_for()
            assert json.loads(form.locator("pre.body").inner_text()) == TAKO
            assert "200" in form.locator(".answer").inner_text()
        assert errors == []
        assert requests and all(url.startswith(origin + "/") for url in requests), requests
    finally:
        page.close()
        server.shutdown()
        server.server_close()
