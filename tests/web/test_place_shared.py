"""An attendee's own page without a time window (issue 21): the API answers places and days (PlaceShared), never the
other person's coordinates and minute, and the page says so honestly: "You and Ada Lovelace (Acme) were at Booth 12
on Tue 7 Jul", no "Met", nothing of theirs on the map. With the window (the page's default) it is a meeting again."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
import requests

from web.test_browser import settle

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _day(text: str) -> str:
    """'2020-07-07' -> 'Tue 7 Jul 2020', the heading's and the sentence's spelling of a day (written here by hand)."""
    d = date.fromisoformat(text)
    return f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"


@pytest.fixture(scope="module")
def defaults(web_stack):  # type: ignore[no-untyped-def]
    """The page's default dates, from its config.js."""
    text = requests.get(web_stack.url + "/config.js", timeout=10).text
    config = json.loads(re.search(r"\((\{.*\})\)", text).group(1))
    return {"start_date": config["defaultStartDate"], "end_date": config["defaultEndDate"]}


@pytest.fixture(scope="module")
def attendee(web_stack, defaults):  # type: ignore[no-untyped-def]
    """(person id, their any-time answer as the API gives it to them): an attendee with someone at their places."""
    anytime = {"start_date": defaults["start_date"], "end_date": defaults["end_date"], "distance": "5"}  # no window
    for person_id in range(1, 40):
        reply = requests.get(f"{web_stack.api}/api/persons/{person_id}/connection", params=anytime, timeout=30,
                             headers=web_stack.headers("attendee", person_id))
        assert reply.status_code == 200, reply.text
        if reply.json():
            return person_id, reply.json()
    pytest.fail("no demo attendee shares a place with anyone")


def test_an_attendee_sees_places_and_days_not_the_others_whereabouts(page, web_stack, defaults, attendee,
                                                                       screenshots):  # type: ignore[no-untyped-def]
    person_id, answer = attendee
    assert all(set(item) == {"person", "presence"} for item in answer), "the attendee's answer is PlaceShared"
    qs = f"start_date={defaults['start_date']}&end_date={defaults['end_date']}&distance=5&window="
    page.goto(web_stack.link(f"/persons/{person_id}?{qs}", "attendee", person_id))
    page.wait_for_url(re.compile(rf"/persons/{person_id}\?"))
    settle(page)
    first: dict[str, dict] = {}
    for item in sorted(answer, key=lambda i: i["presence"]["day"]):
        first.setdefault(str(item["person"]["id"]), item)
    rows = page.get_by_test_id("connection")
    assert sorted(rows.evaluate_all("els => els.map(e => e.dataset.personId)")) == sorted(first)
    for pid, item in first.items():
        sentence = page.locator(f"[data-testid=connection][data-person-id='{pid}'] [data-testid=connection-sentence]")
        person, presence = item["person"], item["presence"]
        name = f"{person['first_name']} {person['last_name']}"
        where = presence["place"]["name"] if presence["place"] else "within "
        text = sentence.inner_text()
        assert text.startswith(f"You and {name}") and f" were at {where}" in text, text
        assert text.endswith(f" on {_day(presence['day'])}"), text
    summary = page.inner_text("[data-testid=summary]")
    assert "not necessarily at the same time" in summary and " met " not in summary, summary
    assert page.locator("[data-testid=map-marker]").count() == 0  # no one else's coordinates to put on a map
    assert page.get_by_role("button", name=re.compile("Show where")).count() == 0
    page.screenshot(path=str(screenshots / "attendee-places-shared.png"), full_page=True)

    page.fill("[data-testid=filter-window]", "15")  # co-presence: a meeting, its point and time
    page.press("[data-testid=filter-window]", "Enter")
    page.wait_for_url(re.compile(r"[?&]window=15(&|$)"))
    settle(page)
    sentences = page.get_by_test_id("connection-sentence").all_inner_texts()
    assert all(s.startswith("Met ") for s in sentences), sentences


def test_the_page_defaults_to_co_presence(page, web_stack, attendee):  # type: ignore[no-untyped-def]
    person_id, _ = attendee
    page.goto(web_stack.link(f"/persons/{person_id}", "attendee", person_id))
    page.wait_for_url(re.compile(r"[?&]window=15(&|$)"))  # the default, spelled out in the address
    assert page.input_value("[data-testid=filter-window]") == "15"
