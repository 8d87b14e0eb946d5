"""The web client in a real browser against a running API with demo data, signed in as an organizer with a token
link (sign-in itself, attendees and refusals: test_signin.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

LIMIT = 500  # the client's CONNECTION_LIMIT: compare against the same page of the API


@pytest.fixture(scope="module")
def urls(web_urls):  # type: ignore[no-untyped-def]
    return web_urls


@pytest.fixture(scope="module")
def api(web_stack):  # type: ignore[no-untyped-def]
    """GET on the API as an organizer."""
    headers = web_stack.headers()

    def get(path: str, **params: object) -> requests.Response:
        return requests.get(web_stack.api + path, params={k: v for k, v in params.items() if v not in (None, "")},
                            headers=headers, timeout=30)

    return get


@pytest.fixture(scope="module")
def signed(web_stack):  # type: ignore[no-untyped-def]
    """`url` as an organizer's sign-in link: the client takes the token from the fragment and opens `url`."""
    token = web_stack.token("organizer")
    return lambda url: f"{url}#token={token}"


@pytest.fixture(scope="module")
def defaults(urls):  # type: ignore[no-untyped-def]
    text = requests.get(urls[0] + "/config.js", timeout=10).text
    config = json.loads(re.search(r"\((\{.*\})\)", text).group(1))
    return {
        "start_date": config["defaultStartDate"],
        "end_date": config["defaultEndDate"],
        "distance": config["defaultDistance"],
        "window": config["defaultWindow"],
    }


def met(api, person_id: int | str, filters: dict) -> list[str]:
    """Ids of the people the API says person_id met, first meeting first, one per person."""
    response = api(f"/api/persons/{person_id}/connection", limit=LIMIT, **filters)
    assert response.status_code == 200, response.text
    ids: list[str] = []
    for item in response.json():
        if str(item["person"]["id"]) not in ids:
            ids.append(str(item["person"]["id"]))
    return ids


@pytest.fixture(scope="module")
def subject(api, defaults):  # type: ignore[no-untyped-def]
    """A demo person who met at least two others with the client's default filters."""
    for person in api("/api/persons", limit=25).json():
        if len(met(api, person["id"], defaults)) >= 2:
            return person
    pytest.fail("the demo data has no one among the first 25 persons who met two others")


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Waits until the connections panel shows an answer (results, empty state or error)."""
    page.wait_for_function(
        """() => { const r = document.querySelector('[data-testid=results]');
                   return r && !r.hasAttribute('aria-busy')
                     && r.querySelector('[data-testid=summary], [data-testid=error]'); }"""
    )


def shown(page, testid: str = "connection") -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(f"[data-testid={testid}]", "els => els.map(e => e.dataset.personId)")


def query(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def person_url(urls, person_id, filters: dict) -> str:  # type: ignore[no-untyped-def]
    qs = "&".join(f"{k}={v}" for k, v in filters.items() if v != "")
    return f"{urls[0]}/persons/{person_id}?{qs}"


def test_people_list_loads_and_filters(page, urls, signed, api, subject, screenshots):  # type: ignore[no-untyped-def]
    page.goto(signed(urls[0] + "/"))
    page.wait_for_selector("[data-testid=person-link]")
    first_page = [str(p["id"]) for p in api("/api/persons", limit=50, offset=0).json()]
    assert shown(page, "person-link") == first_page
    page.screenshot(path=str(screenshots / "people.png"))

    # The next page: scrolling to the end of the list fetches it (the button does the same for keyboards).
    second_page = [str(p["id"]) for p in api("/api/persons", limit=50, offset=50).json()]
    assert second_page, "the demo data should have more than one page of people"
    page.locator("[data-testid=person-link]").last.scroll_into_view_if_needed()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=person-link]').length === n", arg=len(first_page + second_page)
    )
    assert shown(page, "person-link") == first_page + second_page
    if len(second_page) < 50:
        assert page.is_hidden("button.more")  # nothing left to fetch

    q = subject["last_name"]
    page.fill("[data-testid=person-search]", q)
    page.wait_for_url(re.compile(rf"[?&]q={re.escape(q)}"))
    expected = [str(p["id"]) for p in api("/api/persons", q=q, limit=50).json()]
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('[data-testid=person-link]')]"
        ".map(e => e.dataset.personId)) === JSON.stringify(ids)",
        arg=expected,
    )
    assert str(subject["id"]) in shown(page, "person-link")
    assert q.lower() in page.inner_text("[data-testid=people-list]").lower()

    page.fill("[data-testid=person-search]", "zzqx-nobody-has-this-name")
    page.wait_for_selector("[data-testid=people-status]:has-text('No one matches')")
    assert shown(page, "person-link") == []


def test_clicking_a_person_shows_the_apis_connections(page, urls, signed, api, subject, defaults, screenshots):  # type: ignore[no-untyped-def]
    page.goto(signed(f"{urls[0]}/?q={subject['last_name']}"))
    page.click(f"[data-testid=person-link][data-person-id='{subject['id']}']")
    page.wait_for_url(re.compile(rf"/persons/{subject['id']}\?start_date="))
    settle(page)
    # it opens on the days of the person's record (the demo's one day), not on the defaults (a day either side)
    assert (query(page)["start_date"], query(page)["end_date"]) == ("2020-07-06", "2020-07-06")
    assert (defaults["start_date"], defaults["end_date"]) == ("2020-07-05", "2020-07-07")
    assert shown(page) == met(api, subject["id"], {**defaults, "start_date": "2020-07-06", "end_date": "2020-07-06"})
    assert shown(page)  # the demo's attendee met people that day
    assert page.inner_text("[data-testid=person-name]") == f"{subject['first_name']} {subject['last_name']}"
    assert query(page)["distance"] == defaults["distance"]
    item = page.locator("[data-testid=connection]").first
    # words, not coordinates: the demo venue's place, the time in the venue's zone (July: PDT)
    places = page.locator("[data-testid=connection-where]").all_inner_texts()
    assert all(re.fullmatch(r"(Booth \d+|Hall [AB]|Main Stage|Room 10\d|Workshop Room|Dining Hall|Lobby|"
                            r"Coffee Bar [AB]|Lobby Coffee|\w+ Entrance|-?\d+\.\d{5}, -?\d+\.\d{5})", p)
               for p in places), places
    assert any(not re.match(r"-?\d", p) for p in places), places
    assert re.fullmatch(r"(Mon|Tue) \d{1,2} Jul, \d{2}:\d{2}(\u2013\d{2}:\d{2})? \(PDT\)",
                        item.locator("[data-testid=connection-when]").inner_text())
    page.screenshot(path=str(screenshots / "person.png"), full_page=True)


@pytest.fixture(scope="module")
def leaflet(urls):  # type: ignore[no-untyped-def]
    """The map library the web target serves from node_modules (installed by `npm ci`)."""
    if requests.get(urls[0] + "/vendor/leaflet/leaflet.js", timeout=10).status_code != 200:
        pytest.skip("the map library is not installed: run `npm ci` in the repository (nox -s tests does)")


def marker_counts(page) -> int:  # type: ignore[no-untyped-def]
    """Meeting points on the map: single markers plus the counts the clusters show."""
    singles = page.locator("[data-testid=map-marker]").count()
    clustered = page.eval_on_selector_all(".marker-cluster", "els => els.map(e => +e.innerText)")
    return singles + sum(clustered)


def test_map_shows_every_meeting_point_and_selects_with_the_list(page, urls, signed, api, subject, defaults, leaflet,
                                                                  screenshots):  # type: ignore[no-untyped-def]
    page.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(page)
    expected = met(api, subject["id"], defaults)
    page.wait_for_selector("[data-testid=map-marker], .marker-cluster")
    page.wait_for_function("n => document.querySelectorAll('[data-testid=map-marker]').length"
                           " + [...document.querySelectorAll('.marker-cluster')].reduce((a, e) => a + +e.innerText, 0)"
                           " === n", arg=len(expected))
    assert marker_counts(page) == len(expected)
    assert sorted(shown(page, "timeline-event")) == sorted(expected)

    first, other = expected[0], expected[-1]
    names = {i: api(f"/api/persons/{i}").json()["last_name"] for i in (first, other)}
    # "Show on map" (the list) and the timeline select the meeting on the map, out of its cluster if need be.
    page.locator(f"[data-testid=connection][data-person-id='{other}'] button").first.click()
    page.wait_for_selector(f"[data-testid=map-marker][data-person-id='{other}'].selected")
    assert names[other] in page.inner_text("[data-testid=map-card]")
    card = page.inner_text("[data-testid=map-card]")
    assert re.search(r"^Met .+ at [A-Z].*, (Mon|Tue) \d{1,2} Jul, \d{2}:\d{2}(\u2013\d{2}:\d{2})? \(PDT\)$",
                     card), card  # words, local
    page.locator(f"[data-testid=timeline-event][data-person-id='{first}']").dispatch_event("click")
    assert "selected" in page.get_attribute(f"[data-testid=connection][data-person-id='{first}']", "class")
    page.wait_for_selector(f"[data-testid=map-marker][data-person-id='{first}'].selected")
    assert names[first] in page.inner_text("[data-testid=map-card]")
    page.locator("[data-testid=map]").screenshot(path=str(screenshots / "map.png"))


def test_the_venue_layer_is_drawn_offline_without_tiles(page, urls, signed, api, subject, defaults, leaflet,
                                                         screenshots):  # type: ignore[no-untyped-def]
    places = api("/api/places").json()["features"]
    outside: list[str] = []
    page.on("request", lambda r: r.url.startswith(("http://", "https://"))
            and not r.url.startswith((urls[0], urls[1])) and outside.append(r.url))
    page.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(page)
    page.wait_for_function("n => document.querySelectorAll('[data-testid=venue-place]').length === n",
                           arg=len(places))
    ids = page.eval_on_selector_all("[data-testid=venue-place]", "els => els.map(e => e.dataset.placeId)")
    assert sorted(ids) == sorted(str(f["id"]) for f in places)
    labels = page.locator(".place-label").all_inner_texts()
    assert "Hall A" in labels and "Main Stage" in labels
    assert page.locator(".leaflet-tile").count() == 0 and outside == []
    # zoom and pan: the buttons zoom in, a drag moves the view
    before = page.evaluate("() => document.querySelector('.leaflet-map-pane').style.transform")
    zoomed_in(page, lambda: page.click(".leaflet-control-zoom-in"))
    box = page.locator("[data-testid=map]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2 + 40, steps=5)
    page.mouse.up()
    assert page.evaluate("() => document.querySelector('.leaflet-map-pane').style.transform") != before
    page.locator("[data-testid=map]").screenshot(path=str(screenshots / "map-venue.png"))


def zoomed_in(page, action, or_a_marker: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Does `action` and waits until the map's zoom has ended (the page counts them in `data-zooms`) and the
    clusters are redrawn (markercluster animates with `leaflet-cluster-anim` on the map); with `or_a_marker`,
    a single marker on the map will do too (a cluster at the last zoom spiderfies instead of zooming)."""
    before = int(page.get_attribute("[data-testid=map]", "data-zooms") or 0)
    action()
    page.wait_for_function(
        """([n, marker]) => (Number(document.querySelector('[data-testid=map]').dataset.zooms || 0) > n
                             || (marker && document.querySelector('[data-testid=map-marker]')))
                            && !document.querySelector('.leaflet-cluster-anim')""", arg=[before, or_a_marker])


def many_meetings(person_id: str, count: int) -> list[dict]:
    """count meetings spread over the demo venue's halls (about 120 x 80 m), one person each."""
    out = []
    for i in range(count):
        lat = 37.7830 + (i % 17) * 0.000042
        lon = -122.4030 + (i // 17) * 0.000130
        person = {"id": 10_000 + i, "first_name": f"Guest{i}", "last_name": f"Many{i}", "company_name": "Acme"}
        location = {"id": 50_000 + i, "person_id": int(person_id), "latitude": str(lat), "longitude": str(lon),
                    "creation_time": f"2020-07-06T{10 + i % 8:02d}:{i % 60:02d}:00", "place": None}
        out.append({"person": person, "location": location})
    return out


def test_hundreds_of_meetings_are_clustered_and_a_marker_opens_its_meeting(page, urls, signed, subject, defaults,
                                                                           leaflet, screenshots):  # type: ignore[no-untyped-def]
    meetings = many_meetings(str(subject["id"]), 300)
    page.route(re.compile(r".*/api/persons/\d+/connection\?.*"),
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(meetings)))
    page.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(page)
    page.wait_for_selector(".marker-cluster")
    clusters = page.locator(".marker-cluster").count()
    assert clusters < 60, "300 points should be drawn as a few dozen clusters, not one marker each"
    assert marker_counts(page) == 300
    page.locator("[data-testid=map]").screenshot(path=str(screenshots / "map-clustered.png"))
    # A cluster zooms in on click; keep going until a single marker is on screen, then open its meeting.
    for _ in range(8):
        if page.locator("[data-testid=map-marker]").count():
            break
        zoomed_in(page, lambda: page.locator(".marker-cluster").first.click(), or_a_marker=True)
    # Pointer: hovering shows who and when; clicking selects the meeting in the list.
    singles = page.locator("[data-testid=map-marker]")
    marker = singles.first
    person_id = marker.get_attribute("data-person-id")
    marker.hover()
    assert f"Many{int(person_id) - 10_000}" in page.inner_text("[data-testid=map-card]")
    marker.click()
    item = page.locator(f"[data-testid=connection][data-person-id='{person_id}']")
    assert "selected" in item.get_attribute("class")
    # Keyboard: markers are focusable buttons that select their meeting on Enter.
    if singles.count() > 1:
        second = singles.nth(1)
        second_id = second.get_attribute("data-person-id")
        second.focus()
        assert f"Many{int(second_id) - 10_000}" in page.inner_text("[data-testid=map-card]")
        page.keyboard.press("Enter")
        assert "selected" in page.get_attribute(f"[data-testid=connection][data-person-id='{second_id}']", "class")
        assert "selected" not in item.get_attribute("class")
    page.locator("[data-testid=map]").screenshot(path=str(screenshots / "map-opened.png"))


def test_changing_filters_updates_results_and_url(page, urls, signed, api, subject, defaults):  # type: ignore[no-untyped-def]
    page.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(page)
    wider = str(int(float(defaults["distance"]) * 4 + 10))
    page.fill("[data-testid=filter-distance]", wider)
    page.wait_for_url(re.compile(rf"[?&]distance={wider}(&|$)"))
    settle(page)
    assert shown(page) == met(api, subject["id"], {**defaults, "distance": wider})

    page.fill("[data-testid=filter-window]", "")  # the same place at any time: no one "met"
    page.press("[data-testid=filter-window]", "Enter")
    page.wait_for_url(re.compile(r"[?&]window=(&|$)"))
    settle(page)
    anytime = met(api, subject["id"], {**defaults, "distance": wider, "window": ""})
    assert shown(page) == anytime
    if anytime:
        assert "not necessarily at the same time" in page.inner_text("[data-testid=summary]")
        assert not any(t.startswith("Met ") for t in page.get_by_test_id("connection-sentence").all_inner_texts())

    page.fill("[data-testid=filter-window]", "30")
    page.press("[data-testid=filter-window]", "Enter")
    page.wait_for_url(re.compile(r"[?&]window=30(&|$)"))
    settle(page)
    together = met(api, subject["id"], {**defaults, "distance": wider, "window": "30"})
    assert shown(page) == together
    assert all(t.startswith("Met ") for t in page.get_by_test_id("connection-sentence").all_inner_texts())

    first_day = defaults["start_date"]
    page.fill("[data-testid=filter-end-date]", first_day)
    page.wait_for_url(re.compile(rf"[?&]end_date={first_day}(&|$)"))
    settle(page)
    narrowed = {**defaults, "distance": wider, "window": "30", "end_date": first_day}
    expected = met(api, subject["id"], narrowed)
    assert shown(page) == expected
    if not expected:  # the demo conference is later than the default start: an empty day
        assert "No one was within" in page.inner_text("[data-testid=empty]")
    assert query(page) == {k: v for k, v in narrowed.items() if v}


def test_deep_link_restores_the_view(page, urls, signed, api, subject, defaults, screenshots):  # type: ignore[no-untyped-def]
    filters = {**defaults, "distance": str(int(float(defaults["distance"])) * 2 or 10), "window": "30"}
    page.goto(signed(person_url(urls, subject["id"], filters)))
    settle(page)
    assert page.input_value("[data-testid=filter-start-date]") == filters["start_date"]
    assert page.input_value("[data-testid=filter-end-date]") == filters["end_date"]
    assert page.input_value("[data-testid=filter-distance]") == filters["distance"]
    assert page.input_value("[data-testid=filter-window]") == "30"
    assert shown(page) == met(api, subject["id"], filters)
    # The subject is among the first persons by id, so on the list's first page, highlighted.
    page.wait_for_selector(f"[data-testid=person-link][data-person-id='{subject['id']}'][aria-current=page]")
    page.click("[data-testid=api-search] summary")
    command = page.inner_text("[data-testid=api-curl]")
    assert command.startswith('curl -H "Authorization: Bearer $UDACONNECT_TOKEN" \''), command
    api_link = urlsplit(command.split("'")[1])
    if shutil.which("curl"):  # the line works as printed, run by a shell with the token in the variable
        token = signed("").split("#token=")[1]
        curl = subprocess.run(["sh", "-c", command + " -sS -o /dev/null -w '%{http_code}'"], capture_output=True,
                              text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "UDACONNECT_TOKEN": token})
        assert curl.stdout == "200", curl
    assert f"{api_link.scheme}://{api_link.netloc}" == urls[1]
    assert api_link.path == f"/api/persons/{subject['id']}/connection"
    assert {k: v[0] for k, v in parse_qs(api_link.query).items()} == filters
    page.screenshot(path=str(screenshots / "deep-link.png"), full_page=True)


def test_a_bad_filter_shows_the_apis_message(page, urls, signed, api, subject, defaults, screenshots):  # type: ignore[no-untyped-def]
    bad = {**defaults, "start_date": "2020-06-30", "end_date": "2020-06-01"}
    problem = api(f"/api/persons/{subject['id']}/connection", **bad)
    assert problem.status_code in (400, 422)
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    body = problem.json()
    page.goto(signed(person_url(urls, subject["id"], bad)))
    settle(page)
    text = page.inner_text("[data-testid=error]")
    messages = [e["message"] for e in body.get("errors", [])] or [body["detail"]]
    for message in messages:
        assert message in text
    assert shown(page) == []
    page.screenshot(path=str(screenshots / "error.png"), full_page=True)


def test_an_unknown_person_shows_the_apis_message(page, urls, signed, api, defaults):  # type: ignore[no-untyped-def]
    missing = 99_999
    problem = api(f"/api/persons/{missing}")
    assert problem.status_code == 404
    page.goto(signed(person_url(urls, missing, defaults)))
    page.wait_for_selector("[data-testid=error]")
    assert problem.json()["detail"] in page.inner_text("[data-testid=error] >> nth=0")


def test_own_track_is_drawn_when_the_api_offers_it(page, urls, signed, api, subject, defaults, leaflet):  # type: ignore[no-untyped-def]
    paths = api("/api/openapi.json").json()["paths"]
    page.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(page)
    if any(re.fullmatch(r"/api/persons/\{[^}]+\}/locations", path) for path in paths):
        track = api(f"/api/persons/{subject['id']}/locations", start_date=defaults["start_date"],
                    end_date=defaults["end_date"]).json()
        assert isinstance(track, list) and track
        # Leaflet simplifies the drawn path to the zoom; the element says how many fixes it was given
        assert page.get_attribute("[data-testid=own-track]", "data-points") == str(len(track))
    else:
        assert page.locator("[data-testid=own-track]").count() == 0
        assert "own track not available" in page.inner_text(".legend")


def test_keyboard_from_search_to_a_person(page, urls, signed, subject):  # type: ignore[no-untyped-def]
    page.goto(signed(f"{urls[0]}/?q={subject['last_name']}"))
    page.wait_for_selector("[data-testid=person-link]")
    page.focus("[data-testid=person-search]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.dataset.personId")
    assert focused == shown(page, "person-link")[1 if len(shown(page, "person-link")) > 1 else 0]
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/persons/{focused}\?start_date="))  # its days found and spelled out
    assert page.evaluate("document.activeElement.id") == "person-name"
    # Every filter is reachable by its visible label.
    assert page.get_by_label("Within (meters)").get_attribute("data-testid") == "filter-distance"
    assert page.get_by_label("At the same time").get_attribute("data-testid") == "filter-window"


def test_usable_at_phone_width(phone, urls, signed, subject, defaults, screenshots):  # type: ignore[no-untyped-def]
    phone.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(phone)
    assert phone.is_hidden("[data-testid=people-list]")
    assert phone.is_visible("a.back")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # what happened comes first: the live panel and the result's summary on the first screen, above the form
    live = phone.locator("[data-testid=live]").bounding_box()
    summary = phone.locator("[data-testid=summary]").bounding_box()
    form = phone.locator("[data-testid=filters]").bounding_box()
    assert live["y"] < form["y"] and summary["y"] < form["y"], (live, summary, form)
    assert summary["y"] + summary["height"] <= 844, summary  # within the phone's first screen
    phone.screenshot(path=str(screenshots / "phone-person.png"), full_page=True)
    if phone.locator("[data-testid=map]").count():  # the map fits the phone's width and can be screenshotted
        assert phone.locator("[data-testid=map]").bounding_box()["width"] <= 390
        phone.locator("[data-testid=map]").screenshot(path=str(screenshots / "phone-map.png"))
    phone.click("a.back")
    phone.wait_for_selector("[data-testid=person-link]")
    assert phone.is_hidden("[data-testid=filters]")
    phone.screenshot(path=str(screenshots / "phone-people.png"))
