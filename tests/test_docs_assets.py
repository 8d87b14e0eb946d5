"""The API docs page: its files are served by exact name only, and it renders a real OpenAPI document."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

import bearer
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


class _Files(BaseHTTPRequestHandler):
    """The page's paths as the persons target lays them out, with some other OpenAPI document beside it."""

    spec: dict = {}

    def do_GET(self):  # noqa: N802 - the http.server protocol
        path = self.path.split("?")[0]
        found = asset(path.removeprefix("/api/docs/")) if path.startswith("/api/docs/") else None
        if path == "/api/openapi.json":
            found = (json.dumps(self.spec).encode(), "application/json")
        status, (body, content_type) = (200, found) if found else (404, (b"{}", "application/problem+json"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@contextmanager
def _serving(server) -> Iterator[str]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@contextmanager
def _page(browser, origin: str, path: str = "/api/docs"):
    """The docs page, loaded; fails on any JS error, console error or request leaving `origin`."""
    page = browser.new_page()
    errors, requests = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(origin + path)
        page.wait_for_selector("body[data-ready]", timeout=10_000)
        assert page.get_attribute("body", "data-ready") == "true", page.inner_text("#status")
        yield page
        assert errors == []
        assert requests and all(url.startswith(origin + "/") for url in requests), requests
    finally:
        page.close()


def _check_reference(page, spec: dict) -> None:
    operations = [(path, m) for path, item in spec["paths"].items() for m in item if m in ("get", "post", "delete")]
    assert page.locator("section.operation").count() == len(operations)
    text = page.inner_text("main")
    assert all(path in text for path, _method in operations)
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        assert page.locator(f"#schema-{name}").count() == 1
        shown = page.inner_text(f"#schema-{name}")
        assert all(field in shown for field in schema.get("properties", {})), name


def test_page_renders_our_api_and_tries_it_against_the_persons_function(browser, app_env, db):
    from functions_framework import create_app
    from werkzeug.serving import make_server

    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO person (id, first_name, last_name, company_name) "
                "VALUES (:id, :first_name, :last_name, :company_name)"
            ),
            TAKO,
        )
    app = create_app("persons", str(PROJECT_ROOT / "functions" / "main.py"))
    with _serving(make_server("127.0.0.1", 0, app, threaded=True)) as origin, _page(browser, origin) as page:
        assert page.url == f"{origin}/api/docs/"  # the persons target redirects to the folder form
        _check_reference(page, document())
        connection = page.locator("#op-findConnections")
        for name in ("start_date", "end_date", "distance", "window", "limit", "person_id"):
            assert name in connection.inner_text()
        assert "exclusiveMinimum: 0" in connection.inner_text()
        assert "application/geo+json" in connection.inner_text()
        assert "fields of Location" in connection.inner_text()
        assert "One of: Connection" in connection.inner_text()
        assert "One of: PlaceShared" in connection.inner_text()
        form = page.locator("#op-getPerson form.tryit")
        form.locator("input[name=person_id]").fill("5")
        form.locator("input[name=Authorization]").fill(bearer.token(role="attendee", person_id=5))
        # the token is kept for the other forms of the page, never printed
        assert page.locator("#op-getTrack input[name=Authorization]").input_value().count(".") == 2
        form.locator("button").click()
        form.locator("pre.body").wait_for()
        assert json.loads(form.locator("pre.body").inner_text()) == {**TAKO, "first_seen": None,
                                                                    "last_seen": None}  # no fix yet
        assert form.locator(".answer .status").inner_text() == "200"
        assert f"{origin}/api/persons/5" in form.locator("pre.curl").inner_text()
        assert '-H "Authorization: Bearer $TOKEN"' in form.locator("pre.curl").inner_text()


def test_page_renders_the_original_openapi_3_0_document(browser):
    """A document we did not write (OpenAPI 3.0, no components for some bodies) renders as well."""
    if not ORIGINAL_OPENAPI.exists():
        pytest.skip(f"{ORIGINAL_OPENAPI} is absent (a fresh clone has no ../shared)")
    _Files.spec = spec = yaml.safe_load(ORIGINAL_OPENAPI.read_text())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    with _serving(server) as origin, _page(browser, origin, "/api/docs/") as page:
        _check_reference(page, spec)
        assert "Person API" in page.inner_text("h1")
