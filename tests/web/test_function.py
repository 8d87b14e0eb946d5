"""The web target: static assets, the single-page fallback, /config.js, caching and method rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import functions_framework
import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "functions" / "udaconnect" / "web" / "static"


@pytest.fixture
def client(monkeypatch):
    monkeypatch.delenv("UDACONNECT_API_BASE_URL", raising=False)
    app = functions_framework.create_app(target="web", source=str(REPO / "functions" / "main.py"))
    return app.test_client()


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_index_at_root(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.data == (STATIC / "index.html").read_bytes()
    assert b'<script type="module" src="/js/app.js">' in response.data


@pytest.mark.parametrize("path", ["/persons/5", "/persons/5/", "/people", "/persons/abc"])
def test_client_routes_fall_back_to_index(client, path):
    response = client.get(path + "?start_date=2020-01-01&distance=5")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    assert response.data == (STATIC / "index.html").read_bytes()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/app.css", "text/css; charset=utf-8"),
        ("/js/app.js", "text/javascript; charset=utf-8"),
        ("/js/map.js", "text/javascript; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
        ("/index.html", "text/html; charset=utf-8"),
    ],
)
def test_assets_have_their_content_type(client, path, content_type):
    response = client.get(path)
    assert response.status_code == 200
    assert response.content_type == content_type
    assert response.data == (STATIC / path.lstrip("/")).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_module_the_client_imports_is_served(client):
    # A typo in an import path would only show in a browser; check the graph here.
    seen, todo = set(), ["/js/app.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.content_type.startswith("text/javascript"), path
        for spec in re.findall(r'^import .*? from "([^"]+)";', response.get_data(as_text=True), re.M):
            todo.append(spec if spec.startswith("/") else "/js/" + spec.removeprefix("./"))
    assert {"/config.js", "/js/api.js", "/js/map.js", "/js/timeline.js", "/js/people.js"} <= seen


@pytest.mark.parametrize("path", ["/missing.js", "/js/nope.css", "/api/persons", "/api", "/.hidden"])
def test_unknown_assets_are_404_problems(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["status"] == 404


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/js/../../function.py", "/%2e%2e/function.py"])
def test_no_path_escapes_the_static_directory(client, path):
    response = client.get(path)
    assert response.status_code in (200, 404)
    # Either refused, or answered with the index for a client route; never the Python source.
    assert b"def handle" not in response.data
    assert b"[project]" not in response.data


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head(client, method):
    response = client.open("/js/app.js", method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.content_type == "application/problem+json"


def test_head_has_headers_without_body(client):
    response = client.head("/app.css")
    assert response.status_code == 200
    assert response.content_type == "text/css; charset=utf-8"
    assert response.data == b""
    assert response.headers["ETag"]


def test_etag_revalidation(client):
    first = client.get("/js/app.js")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get("/js/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    other = client.get("/app.css", headers={"If-None-Match": etag})
    assert other.status_code == 200


def _config(client) -> dict:
    response = client.get("/config.js")
    assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
    text = response.get_data(as_text=True)
    match = re.fullmatch(r"export default Object\.freeze\((\{.*\})\);\n", text)
    assert match, text
    return json.loads(match.group(1))


def test_config_defaults_to_same_origin(client):
    config = _config(client)
    assert config["apiBaseUrl"] == ""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", config["defaultStartDate"])


def test_config_reads_the_api_base_url_from_env(client, monkeypatch):
    monkeypatch.setenv("UDACONNECT_API_BASE_URL", "http://localhost:30001/")
    assert _config(client)["apiBaseUrl"] == "http://localhost:30001"
    # The page may then call that origin, and nothing else.
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' http://localhost:30001;" in csp


def test_config_has_no_tiles_by_default_and_the_tile_url_from_env(client, monkeypatch):
    monkeypatch.delenv("UDACONNECT_WEB_TILE_URL", raising=False)
    assert _config(client)["tileUrl"] == ""
    assert "img-src 'self' data:;" in client.get("/").headers["Content-Security-Policy"]
    monkeypatch.setenv("UDACONNECT_WEB_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    assert _config(client)["tileUrl"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    # The page may then load images from the tile server, and from nowhere else.
    assert "img-src 'self' data: https://tile.openstreetmap.org;" in client.get("/").headers["Content-Security-Policy"]


@pytest.mark.parametrize(("url", "origin"), [
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
    ("http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8081"),
    ("/tiles/{z}/{x}/{y}.png", ""),  # same origin: 'self' already allows it
])
def test_tile_origin(url, origin):
    from udaconnect.web.function import tile_origin

    assert tile_origin(url) == origin


NODE_MODULES = REPO / "node_modules"


@pytest.mark.skipif(not (NODE_MODULES / "leaflet" / "dist").is_dir(), reason="map library not installed: run `npm ci`")
@pytest.mark.parametrize(("path", "content_type"), [
    ("/vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
    ("/vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
    ("/vendor/leaflet/images/layers.png", "image/png"),
    ("/vendor/leaflet.markercluster/leaflet.markercluster.js", "text/javascript; charset=utf-8"),
    ("/vendor/leaflet.markercluster/MarkerCluster.Default.css", "text/css; charset=utf-8"),
])
def test_the_map_library_is_served_from_node_modules_dist(client, path, content_type):
    package, _, rest = path.removeprefix("/vendor/").partition("/")
    response = client.get(path)
    assert response.status_code == 200
    assert response.content_type == content_type
    assert response.data == (NODE_MODULES / package / "dist" / rest).read_bytes()


@pytest.mark.parametrize("path", ["/vendor/leaflet/package.json", "/vendor/leaflet/../leaflet/package.json",
                                  "/vendor/other/index.js", "/vendor/leaflet.markercluster/../../package.json"])
def test_only_the_map_librarys_dist_is_served(client, path):
    assert client.get(path).status_code == 404


def test_every_answer_forbids_sniffing_framing_and_referers(client):
    for path in ("/", "/persons/5", "/js/app.js", "/config.js", "/health", "/nothing.png"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert "Strict-Transport-Security" not in response.headers, path
    assert "frame-ancestors 'none'" in client.get("/").headers["Content-Security-Policy"]
    assert client.post("/").headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_when_the_edge_says_the_request_came_over_https(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_config_has_no_sign_in_issuer_by_default(client, monkeypatch):
    monkeypatch.delenv("UDACONNECT_OIDC_ISSUER", raising=False)
    assert _config(client)["oidc"] is None  # token links only


def test_config_names_the_issuer_and_the_page_may_call_it(client, monkeypatch):
    monkeypatch.setenv("UDACONNECT_OIDC_ISSUER", "https://id.example.org/realms/conf")
    monkeypatch.setenv("UDACONNECT_OIDC_AUDIENCE", "udaconnect")
    monkeypatch.setenv("UDACONNECT_OIDC_CLIENT_ID", "udaconnect-web")
    monkeypatch.setenv("UDACONNECT_OIDC_TOKEN_ENDPOINT", "https://sso.example.org/token")
    oidc = _config(client)["oidc"]
    assert oidc == {"issuer": "https://id.example.org/realms/conf", "client_id": "udaconnect-web",
                    "scope": "openid", "authorization_endpoint": "", "token_endpoint": "https://sso.example.org/token",
                    "person_claim": "udaconnect_person", "roles_claim": "roles"}
    # discovery at the issuer, the code exchanged at the token endpoint: both origins, and no other
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://id.example.org https://sso.example.org;" in csp
    monkeypatch.delenv("UDACONNECT_OIDC_CLIENT_ID")
    assert _config(client)["oidc"] is None  # an issuer with no client id for us: no button


@pytest.mark.skipif(not (NODE_MODULES / "oauth4webapi" / "build").is_dir(), reason="run `npm ci`")
def test_the_sign_in_library_is_served_as_a_module(client):
    response = client.get("/vendor/oauth4webapi/index.js")
    assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
    assert b"export async function authorizationCodeGrantRequest" in response.data
