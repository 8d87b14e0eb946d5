"""The map's base layer from UDACONNECT_WEB_TILE_URL: tiles requested from that server, allowed by the page's CSP."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from udaconnect.settings import PROJECT_ROOT
from web.conftest import serve_web

TILES = "http://tiles.example.test"
# a 1x1 grey PNG stands in for every tile (the routed server never leaves the browser)
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGOoBwAAewB63lYK8QAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def web_with_tiles() -> Iterator[str]:
    if not (PROJECT_ROOT / "node_modules" / "leaflet" / "dist").is_dir():
        pytest.skip("the map library is not installed: run `npm ci` in the repository (nox -s tests does)")
    yield from serve_web({"UDACONNECT_API_BASE_URL": "", "UDACONNECT_WEB_TILE_URL": TILES + "/{z}/{x}/{y}.png",
                          "UDACONNECT_WEB_TILE_ATTRIBUTION": "Test tiles"})


def test_a_configured_tile_url_draws_a_base_map_under_the_pages_csp(page, web_with_tiles):  # type: ignore[no-untyped-def]
    requested: list[tuple[str, str | None]] = []

    def tile(route):  # type: ignore[no-untyped-def]
        requested.append((route.request.url, route.request.headers.get("referer")))
        route.fulfill(status=200, content_type="image/png", body=PNG)

    page.route(TILES + "/**", tile)
    # A document served by the web target carries its CSP; the map module is then run in it as the client does.
    page.goto(web_with_tiles + "/vendor/leaflet/leaflet.css")  # shown as a text document: a head and a body
    page.evaluate("() => document.body.replaceChildren()")
    for url in ("/vendor/leaflet/leaflet.css", "/vendor/leaflet.markercluster/MarkerCluster.css", "/app.css"):
        page.add_style_tag(url=url)
    page.add_script_tag(url="/vendor/leaflet/leaflet.js")
    page.add_script_tag(url="/vendor/leaflet.markercluster/leaflet.markercluster.js")
    page.evaluate("""async () => {
        const m = await import('/js/map.js');
        const person = {id: 7, first_name: 'Ada', last_name: 'Lovelace', company_name: 'Acme'};
        const location = {latitude: 37.7833, longitude: -122.4022, creation_time: '2020-07-06T17:14:00Z', place: null};
        const { el } = m.renderMap({encounters: [{person, location}], track: null, onSelect() {}});
        document.body.append(el);
    }""")
    page.wait_for_function("() => document.querySelectorAll('.leaflet-tile-loaded').length > 0")
    assert requested and all(url.startswith(TILES + "/") and url.endswith(".png") for url, _ in requested)
    # OpenStreetMap's tile policy wants a Referer; the page sends none elsewhere, the tiles get its origin
    assert all(referer == web_with_tiles + "/" for _, referer in requested), requested
    assert "Test tiles" in page.inner_text(".leaflet-control-attribution")
