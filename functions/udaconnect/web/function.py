"""The `web` target: static assets, the libraries under /vendor/, the single-page fallback, /config.js and /health."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from flask import Request, Response

from udaconnect.headers import HSTS, PAGE, over_https
from udaconnect.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The map library and the OpenID Connect client, installed by `npm ci` from package-lock.json (nox, the
# Containerfile's build stage) rather than copied into the repository; only each package's built files are served,
# as /vendor/<package>/<file>.
NODE_MODULES = Path(__file__).resolve().parents[3] / "node_modules"
VENDOR = {"leaflet": "leaflet/dist", "leaflet.markercluster": "leaflet.markercluster/dist",
          "oauth4webapi": "oauth4webapi/build"}

# Explicit types: the platform's mimetypes table may lack .js/.mjs or call them text/plain,
# and browsers refuse to run ES modules served with a non-JavaScript type.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}

# No fingerprinted file names (there is no build step), so browsers revalidate every time;
# the ETag makes that a cheap 304.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _etag(body: bytes) -> str:
    # Unquoted: werkzeug quotes it on the way out and unquotes If-None-Match on the way in.
    return hashlib.sha256(body).hexdigest()[:32]


@lru_cache(maxsize=256)
def _load(path: Path, mtime_ns: int, size: int) -> Asset:
    # Keyed on mtime and size so an edited file is picked up without a restart.
    body = path.read_bytes()
    return Asset(body, CONTENT_TYPES.get(path.suffix, "application/octet-stream"), _etag(body))


def _asset(relative: str) -> Asset | None:
    parts = PurePosixPath(relative).parts
    if any(part in ("..", ".") or part.startswith(".") for part in parts):
        return None
    if len(parts) > 2 and parts[0] == "vendor" and parts[1] in VENDOR:
        path = NODE_MODULES.joinpath(VENDOR[parts[1]], *parts[2:])
    else:
        path = STATIC_DIR.joinpath(*parts)
    if not path.is_file():
        return None
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size)


def default_days(settings: Settings, now: datetime | None = None) -> dict[str, str]:
    """The filters' days when the address names none: UDACONNECT_WEB_START_DATE/END_DATE, else the last three
    days up to today at the venue (a person's page then opens on the days of their own record)."""
    from zoneinfo import ZoneInfo

    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(settings.venue_time_zone)).date()
    end = settings.web_end_date or today.isoformat()
    start = settings.web_start_date or (date.fromisoformat(end) - timedelta(days=2)).isoformat()
    return {"defaultStartDate": start, "defaultEndDate": end}


def config_asset(settings: Settings) -> Asset:
    """The client's runtime configuration as an ES module."""
    config = {
        "apiBaseUrl": settings.web_api_base_url.rstrip("/"),
        **default_days(settings),
        "defaultDistance": settings.web_distance,
        "defaultWindow": settings.web_window,
        # times are shown in the venue's time zone, named ("PDT"), as attendees lived them
        "timeZone": settings.venue_time_zone,
        # the map's base layer; empty = none, the venue's places alone (offline, as in the tests)
        "tileUrl": settings.web_tile_url,
        "tileAttribution": settings.web_tile_attribution,
        # sign-in with the conference's OpenID Connect issuer (null: token links only)
        "oidc": oidc_config(settings),
    }
    body = f"export default Object.freeze({json.dumps(config, sort_keys=True)});\n".encode()
    return Asset(body, CONTENT_TYPES[".js"], _etag(body))


def oidc_config(settings: Settings) -> dict[str, str] | None:
    """What the client needs for the authorization code flow with PKCE (no secret: it is a public client)."""
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    return {"issuer": settings.oidc_issuer, "client_id": settings.oidc_client_id, "scope": settings.oidc_scope,
            "authorization_endpoint": settings.oidc_authorization_endpoint,
            "token_endpoint": settings.oidc_token_endpoint,
            "person_claim": settings.oidc_person_claim, "roles_claim": settings.oidc_roles_claim}


def oidc_origins(config: Mapping[str, str] | None) -> list[str]:
    """The origins the client fetches from to sign in (discovery, the token endpoint), as CSP sources."""
    urls = [config["issuer"], config["token_endpoint"]] if config else []
    return list(dict.fromkeys(f"{p.scheme}://{p.netloc}" for p in map(urlsplit, urls) if p.scheme and p.netloc))


def tile_origin(tile_url: str) -> str:
    """The origin a tile URL template loads images from, as a CSP source ("{s}." subdomains become "*.")."""
    parts = urlsplit(tile_url.replace("{s}.", "x-sub."))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".replace("x-sub.", "*.")


def _security_headers(response: Response, api_base: str, tiles: str = "") -> Response:
    connect = "'self'" + (f" {api_base}" if api_base else "")
    images = "'self' data:" + (f" {tiles}" if tiles else "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; connect-src {connect}; img-src {images}; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    return response


def _every_answer(request: Request, response: Response) -> Response:
    """nosniff, no Referer, no framing on every answer (problems and /health too); HSTS when over https."""
    response.headers.update(PAGE)
    if over_https(request.scheme, request.headers.get("X-Forwarded-Proto", "")):
        response.headers.update(HSTS)
    return response


def _serve(request: Request, asset: Asset) -> Response:
    # If-None-Match compares weakly (RFC 9110), so "*" and W/"..." both count.
    if request.if_none_match.contains_weak(asset.etag) or request.if_none_match.star_tag:
        response = Response(status=304)
    else:
        response = Response(asset.body, content_type=asset.content_type)
    response.set_etag(asset.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "errors": []}
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


def _is_client_route(path: str) -> bool:
    # Extension-less paths outside /api are the client's own routes (e.g. /persons/5).
    last = PurePosixPath(path).name
    return "." not in last and not path.startswith("/api/") and path != "/api"


def handle(request: Request) -> Response:
    return _every_answer(request, _handle(request))


def _handle(request: Request) -> Response:
    path = request.path or "/"
    if path == "/health":
        return Response(json.dumps({"status": "ok"}), content_type="application/json")
    if request.method not in ("GET", "HEAD"):
        response = _problem(405, "Method Not Allowed", f"{request.method} is not allowed on {path}.")
        response.headers["Allow"] = "GET, HEAD"
        return response
    # Read per request, not cached: the web target holds no connections, and its configuration follows the
    # environment it is given (Settings.from_env costs microseconds next to serving an asset).
    settings = Settings.from_env()
    api_base = settings.web_api_base_url.rstrip("/")
    if path == "/config.js":
        asset: Asset | None = config_asset(settings)
    else:
        asset = _asset(path.lstrip("/")) if path != "/" else None
        if asset is None and _is_client_route(path):
            asset = _asset("index.html")
    if asset is None:
        return _problem(404, "Not Found", f"No asset at {path}.")
    tiles = tile_origin(settings.web_tile_url)
    connect = " ".join([api_base, *oidc_origins(oidc_config(settings))]).strip()
    return _security_headers(_serve(request, asset), connect, tiles)
