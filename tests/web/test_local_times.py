"""Words, not coordinates: meetings told as sentences in the venue's time zone (named) or the viewer's (a switch
remembered in localStorage), the timeline and day headings on that clock, an encounter's time range, and place
names in the list and on the map. The browser's own zone is Europe/Berlin here, so the two clocks differ."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from web.test_browser import person_url, settle

VENUE = ZoneInfo("America/Los_Angeles")
VIEWER = "Europe/Berlin"
SENTENCE = re.compile(r"Met .+ at .+, (Sun|Mon|Tue|Wed|Thu|Fri|Sat) \d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2}"
                      r"(\u2013\d{2}:\d{2})? \((?P<zone>[A-Z0-9+\u2212-]+)\)")


@pytest.fixture(scope="module")
def api(web_stack):  # type: ignore[no-untyped-def]
    headers = web_stack.headers()
    return lambda path, **params: requests.get(web_stack.api + path, params=params, headers=headers, timeout=30).json()


@pytest.fixture(scope="module")
def filters(web_stack):  # type: ignore[no-untyped-def]
    text = requests.get(web_stack.url + "/config.js", timeout=10).text
    config = json.loads(re.search(r"\((\{.*\})\)", text).group(1))
    return {"start_date": config["defaultStartDate"], "end_date": config["defaultEndDate"], "distance": "5",
            "window": config["defaultWindow"]}


@pytest.fixture
def berlin(chromium_browser):  # type: ignore[no-untyped-def]
    """A desktop page whose own time zone is Berlin's (the viewer is not at the venue)."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce",
                                           timezone_id=VIEWER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, errors


def first_meetings(api, person_id: int, filters: dict) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """The other person's id -> the first connection with them (what the list shows), from the API."""
    first: dict[str, dict] = {}
    for item in api(f"/api/persons/{person_id}/connection", limit=500, **filters):
        first.setdefault(str(item["person"]["id"]), item)
    return first


@pytest.fixture(scope="module")
def with_range(api, filters):  # type: ignore[no-untyped-def]
    """(person id, other's id, first meeting, encounter): a first meeting inside a detected encounter that lasts."""
    for person in api("/api/persons", limit=70):
        runs = api(f"/api/persons/{person['id']}/encounters", start_date=filters["start_date"],
                   end_date=filters["end_date"])
        meetings = first_meetings(api, person["id"], filters)
        for run in runs:
            meeting = meetings.get(str(run["person"]["id"]))
            if not meeting:
                continue
            at = datetime.fromisoformat(meeting["location"]["creation_time"])
            first, last = datetime.fromisoformat(run["first_seen"]), datetime.fromisoformat(run["last_seen"])
            if first <= at <= last and last - at >= timedelta(minutes=2):
                return person["id"], str(run["person"]["id"]), meeting, run
    pytest.fail("no first meeting of the demo falls inside a detected encounter")


def hhmm(iso: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%H:%M")


def test_meetings_are_sentences_in_the_venues_time_named(berlin, web_stack, api, filters, with_range,
                                                          screenshots):  # type: ignore[no-untyped-def]
    person_id, other, meeting, run = with_range
    berlin.goto(web_stack.link(person_url((web_stack.url,), person_id, filters).removeprefix(web_stack.url)))
    settle(berlin)
    assert berlin.get_by_test_id("clock-venue").is_checked()
    assert berlin.get_by_test_id("clock-venue-zone").inner_text() == "(PDT)"  # as at the meetings (July)
    sentences = berlin.get_by_test_id("connection-sentence").all_inner_texts()
    assert sentences and all(SENTENCE.fullmatch(s) and SENTENCE.fullmatch(s)["zone"] == "PDT" for s in sentences), \
        sentences[:3]
    # the encounter with its time range: from the meeting to the end of the detected encounter, venue's clock
    row = berlin.locator(f"[data-testid=connection][data-person-id='{other}']")
    when = row.get_by_test_id("connection-when").inner_text()
    assert when.endswith(f"{hhmm(meeting['location']['creation_time'], VENUE)}\u2013"
                         f"{hhmm(run['last_seen'], VENUE)} (PDT)"), when
    text = row.get_by_test_id("connection-sentence").inner_text()
    who = meeting["person"]
    assert text.startswith(f"Met {who['first_name']} {who['last_name']} ({who['company_name']}) at ")
    place = meeting["location"]["place"]
    assert place and f" at {place['name']}, " in text  # words, not coordinates
    # day headings and the timeline on the venue's clock: a demo day runs 08:30-18:30 there, not in UTC
    local = [datetime.fromisoformat(m["location"]["creation_time"]).astimezone(VENUE)
             for m in first_meetings(api, person_id, filters).values()]
    days = {f"{d:%a} {d.day} {d:%b %Y}" for d in local}
    assert {t.split(" \u00b7 ")[0] for t in berlin.get_by_test_id("day-title").all_inner_texts()} == days
    assert berlin.get_by_test_id("timeline-start").text_content().endswith("(PDT)")
    ticks = [t for t in berlin.get_by_test_id("timeline-tick").all_text_contents() if ":" in t]
    assert all(7 <= int(t[:2]) <= 19 for t in ticks), ticks  # conference hours, local
    # the live history tells each encounter as a range too
    history = berlin.get_by_test_id("live-history").locator("li").all_inner_texts()
    assert any(re.search(r", \w{3} \d{1,2} \w{3}, \d{2}:\d{2}\u2013\d{2}:\d{2} \(PDT\)", h) for h in history), history
    berlin.screenshot(path=str(screenshots / "person-local-times.png"), full_page=True)


def test_the_clock_switches_to_the_viewers_zone_and_is_remembered(berlin, web_stack, filters, with_range,
                                                                   screenshots):  # type: ignore[no-untyped-def]
    person_id, other, meeting, run = with_range
    berlin.goto(web_stack.link(person_url((web_stack.url,), person_id, filters).removeprefix(web_stack.url)))
    settle(berlin)
    row = berlin.locator(f"[data-testid=connection][data-person-id='{other}']")
    berlin.get_by_test_id("clock-viewer").check()
    here = ZoneInfo(VIEWER)
    expected = f"{hhmm(meeting['location']['creation_time'], here)}\u2013{hhmm(run['last_seen'], here)} (UTC+2)"
    berlin.wait_for_function("t => document.querySelector(`[data-testid=connection][data-person-id='${t[0]}'] "
                             "[data-testid=connection-when]`)?.textContent.endsWith(t[1])", arg=[other, expected])
    assert berlin.get_by_test_id("clock-viewer-zone").inner_text() == "(UTC+2)"
    # the venue's day is two days in Berlin (17:30-03:50): the axis then names days; each meeting has its time
    labels = berlin.eval_on_selector_all("[data-testid=timeline-event]", "els => els.map(e => e.ariaLabel)")
    assert labels and all(SENTENCE.fullmatch(label)["zone"] == "UTC+2" for label in labels), labels[:3]
    assert all(s.endswith("(UTC+2)") for s in berlin.get_by_test_id("connection-when").all_inner_texts())
    assert berlin.evaluate("localStorage.getItem('udaconnect.clock')") == "viewer"
    berlin.screenshot(path=str(screenshots / "person-viewer-clock.png"), full_page=True)
    berlin.reload()  # remembered
    settle(berlin)
    assert berlin.get_by_test_id("clock-viewer").is_checked()
    assert row.get_by_test_id("connection-when").inner_text().endswith(expected)
    berlin.get_by_test_id("clock-venue").check()
    berlin.wait_for_function("() => [...document.querySelectorAll('[data-testid=connection-when]')]"
                             ".every(e => e.textContent.endsWith('(PDT)'))")


def test_place_names_in_the_list_and_on_the_map(berlin, web_stack, api, filters, with_range,
                                                screenshots):  # type: ignore[no-untyped-def]
    if requests.get(web_stack.url + "/vendor/leaflet/leaflet.js", timeout=10).status_code != 200:
        pytest.skip("the map library is not installed: run `npm ci` (nox -s tests does)")
    person_id, other, meeting, _ = with_range
    expected = {pid: (m["location"]["place"] or {}).get("name") for pid, m in
                first_meetings(api, person_id, filters).items()}
    berlin.goto(web_stack.link(person_url((web_stack.url,), person_id, filters).removeprefix(web_stack.url)))
    settle(berlin)
    listed = berlin.eval_on_selector_all(
        "[data-testid=connection]", "els => els.map(e => [e.dataset.personId, "
        "e.querySelector('[data-testid=connection-where]').textContent])")
    assert {pid: name for pid, name in listed} == {pid: name for pid, name in expected.items() if name}
    # the venue's places are named on the map, and a meeting's marker and card say where
    berlin.wait_for_selector("[data-testid=venue-place]")
    labels = berlin.eval_on_selector_all(".place-label", "els => els.map(e => e.textContent)")
    assert {"Hall A", "Hall B"} <= set(labels), labels
    row = berlin.locator(f"[data-testid=connection][data-person-id='{other}']")
    row.get_by_role("button").click()
    berlin.wait_for_selector(f"[data-testid=map-marker][data-person-id='{other}'].selected")
    name = meeting["location"]["place"]["name"]
    card = berlin.get_by_test_id("map-card").inner_text()
    assert SENTENCE.fullmatch(card) and f" at {name}, " in card, card
    marker = berlin.get_attribute(f"[data-testid=map-marker][data-person-id='{other}']", "aria-label")
    assert f" at {name}, " in marker and marker.endswith("(PDT)"), marker
    berlin.locator("[data-testid=map]").screenshot(path=str(screenshots / "map-place-names.png"))


def test_local_times_on_a_phone(chromium_browser, web_stack, filters, with_range,
                                screenshots):  # type: ignore[no-untyped-def]
    person_id, other, _, _ = with_range
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                           reduced_motion="reduce", timezone_id=VIEWER)
    phone = context.new_page()
    try:
        phone.goto(web_stack.link(person_url((web_stack.url,), person_id, filters).removeprefix(web_stack.url)))
        settle(phone)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # the sentence and the switch wrap
        assert phone.is_visible("[data-testid=clock]")
        when = phone.locator(f"[data-testid=connection][data-person-id='{other}'] [data-testid=connection-when]")
        assert re.search(r"\d{2}:\d{2}\u2013\d{2}:\d{2} \(PDT\)$", when.inner_text())
        phone.screenshot(path=str(screenshots / "phone-person-local-times.png"), full_page=True)
    finally:
        context.close()
