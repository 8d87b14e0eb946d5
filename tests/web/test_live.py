"""The live panel in the browser: two phones meet through the whole local stack (gateway, ingest, Kafka, broker,
persist, its stored-fix reply, encounters, NOTIFY, the SSE stream) and the encounter appears without a reload."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def report(api: str, person_id: int, at: datetime, auth: dict[str, str]) -> None:
    """A location report, as an organizer's import (a phone would send its own device token)."""
    body = json.dumps({"person_id": person_id, "latitude": 10.5, "longitude": 20.5, "recorded_at": at.isoformat()})
    request = urllib.request.Request(api + "/api/events", data=body.encode(), method="POST", headers={
        **auth, "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": f"/imports/live-{person_id}",
        "ce-type": "io.udaconnect.location.reported.v1", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202


def test_a_new_encounter_appears_live_with_the_history_below(page, web_stack, screenshots):  # type: ignore[no-untyped-def]
    api, organizer = web_stack.api, web_stack.headers()

    def get(path: str) -> list | dict:
        with urllib.request.urlopen(urllib.request.Request(api + path, headers=organizer)) as answer:
            return json.load(answer)

    def encounters_of(person: int) -> list[dict]:
        return get(f"/api/persons/{person}/encounters?start_date=2020-07-06&end_date=2020-07-06")  # type: ignore[return-value]

    subject = next(p for p in range(1, 71) if encounters_of(p))  # the demo seed builds encounters
    history = encounters_of(subject)
    other: dict = get(f"/api/persons/{subject % 70 + 1}")  # type: ignore[assignment]
    # the attendee themself, signed in with their link: the live stream carries their token in its query
    page.goto(web_stack.link(f"/persons/{subject}?start_date=2020-07-06&end_date=2020-07-06&distance=5",
                             "attendee", subject))
    page.get_by_test_id("live-status").filter(has_text="Live").wait_for()
    items = page.get_by_test_id("live-history").locator("li")
    items.first.wait_for()
    assert items.count() == len(history)
    assert items.first.inner_text().startswith(f"{history[0]['person']['first_name']} ")
    now = datetime.now(UTC).replace(microsecond=0)
    report(api, subject, now, organizer)
    report(api, other["id"], now, organizer)
    news = page.get_by_test_id("live-encounter")
    news.first.wait_for(timeout=30_000)
    text = news.first.inner_text()
    # on the venue's clock, named (the page's default)
    local = now.astimezone(ZoneInfo("America/Los_Angeles"))
    assert text == (f"You just met {other['first_name']} {other['last_name']} ({other['company_name']}) "
                    f"at {local:%H:%M} ({local.tzname()})")
    page.screenshot(path=str(screenshots / "live-encounter.png"), full_page=True)
    assert news.count() == 1
