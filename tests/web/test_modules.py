"""The client's pure modules (de-duplication, times, projection, URL state), run in the browser as shipped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from web.conftest import serve_web


@pytest.fixture(scope="module")
def web_only() -> Iterator[str]:
    """The web target alone, as its own functions-framework process (no API needed for these)."""
    yield from serve_web({"UDACONNECT_API_BASE_URL": "", "UDACONNECT_WEB_START_DATE": "2020-07-01",
                          "UDACONNECT_WEB_END_DATE": "2020-12-30"})


@pytest.fixture
def run(page, web_only):  # type: ignore[no-untyped-def]
    """Evaluates `body` with `m` bound to the imported module `name`."""
    page.goto(web_only + "/health")  # an HTML document of the same origin that does not start the app

    def evaluate(name: str, body: str, arg: object = None) -> object:
        script = f"async (arg) => {{ const m = await import('/js/{name}.js'); {body} }}"
        return page.evaluate(script, arg)

    return evaluate


def loc(person_id: int, time: str, lat: float = 37.78, lon: float = -122.4) -> dict:
    person = {"id": person_id, "first_name": f"P{person_id}", "last_name": "X", "company_name": "C"}
    location = {"id": 1, "person_id": person_id, "latitude": lat, "longitude": lon, "creation_time": time}
    return {"person": person, "location": location}


def test_dedupe_keeps_each_persons_first_meeting_in_time_order(run):  # type: ignore[no-untyped-def]
    connections = [
        loc(7, "2020-07-06T10:00:00+00:00"),
        loc(3, "2020-07-06T11:00:00+02:00"),  # 09:00 UTC: the earliest of all
        loc(7, "2020-07-06T08:00:00+00:00"),  # person 7 again, earlier: this one is kept
        loc(5, "not a time"),
        {"person": None, "location": None},
    ]
    result = run("encounters", "return m.dedupe(arg).map(e => [e.person.id, e.location.creation_time]);", connections)
    assert result == [[7, "2020-07-06T08:00:00+00:00"], [3, "2020-07-06T11:00:00+02:00"], [5, "not a time"]]


def test_times_keep_the_offset_they_were_recorded_with(run):  # type: ignore[no-untyped-def]
    assert run("format", "return m.formatWhen('2020-08-15T10:37:12.5-07:00');") == "15 Aug 2020, 10:37 (UTC\u221207:00)"
    assert run("format", "return m.formatWhen('2020-07-06T08:00:00Z');") == "6 Jul 2020, 08:00 (UTC)"
    # in the venue's time zone, named: what attendees lived, not UTC
    assert run("format", "return m.formatLocal('2020-07-07T17:14:00Z', 'America/Los_Angeles');") \
        == "Tue 7 Jul, 10:14 (PDT)"
    assert run("format", "return m.formatLocal('2020-01-07T17:14:00Z', 'America/Los_Angeles');") \
        == "Tue 7 Jan, 09:14 (PST)"
    assert run("format", "return m.formatLocal('2020-07-07T17:14:00Z', 'Not/AZone');") == ""
    assert run("format", "return m.formatPlace({latitude: 37.78, longitude: -122.4, "
                         "place: {id: 'booth-12', name: 'Booth 12', kind: 'booth'}});") == "Booth 12"
    assert run("format", "return m.formatPlace({latitude: 37.78, longitude: -122.4, place: null});") \
        == "37.78000, -122.40000"
    assert run("format", "return m.dayKey('2020-07-06T23:30:00-05:00');") == "2020-07-06"
    assert run("format", "return m.formatPlace({latitude: 37.7, longitude: -122.123456789});") == "37.70000, -122.12346"
    assert run("format", "return m.formatDistance(1500);") == "1.5\u00a0km"


def test_meetings_in_words_on_a_named_clock(run):  # type: ignore[no-untyped-def]
    ada = {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "company_name": "Acme"}
    meeting = {"person": ada, "location": {"latitude": 37.78, "longitude": -122.4, "creation_time":
               "2020-07-07T17:14:00+00:00", "place": {"id": "booth-12", "name": "Booth 12", "kind": "booth"}}}
    la, berlin = "America/Los_Angeles", "Europe/Berlin"
    sentence = "return m.meetingSentence(arg[0], arg[1]);"
    assert run("format", sentence, [{**meeting, "until": "2020-07-07T17:31:40Z"}, la]) \
        == "Met Ada Lovelace (Acme) at Booth 12, Tue 7 Jul, 10:14\u201310:31 (PDT)"
    assert run("format", sentence, [meeting, la]) == "Met Ada Lovelace (Acme) at Booth 12, Tue 7 Jul, 10:14 (PDT)"
    assert run("format", sentence, [{**meeting, "until": "2020-07-07T17:31:00Z"}, berlin]) \
        == "Met Ada Lovelace (Acme) at Booth 12, Tue 7 Jul, 19:14\u201319:31 (UTC+2)"
    # across local midnight both days are said; the local day, not UTC's, groups the list
    assert run("format", "return m.formatSpan('2020-07-08T06:50:00Z', '2020-07-08T07:10:00Z', arg);", la) \
        == "Tue 7 Jul, 23:50 \u2013 Wed 8 Jul, 00:10 (PDT)"
    assert run("format", "return m.localDayKey('2020-07-08T06:50:00Z', arg);", la) == "2020-07-07"
    assert run("format", "return m.formatDayKey('2020-07-07');") == "Tue 7 Jul 2020"
    assert run("format", "return m.zoneName(arg, Date.parse('2020-01-07T17:14:00Z'));", la) == "PST"
    assert run("format", "return m.localParts(Date.parse('2020-07-07T17:14:00Z'), arg).offset;", la) == -420


def test_a_meeting_takes_its_end_from_the_encounter_holding_it(run):  # type: ignore[no-untyped-def]
    body = """const e = m.dedupe(arg.connections);
              return m.withEnds(e, arg.runs).map(x => [x.person.id, x.until ?? null]);"""
    connections = [loc(1, "2020-07-07T17:14:00+00:00"), loc(2, "2020-07-07T18:00:00+00:00"),
                   loc(3, "2020-07-07T19:00:00+00:00")]
    runs = [{"person": {"id": 1}, "first_seen": "2020-07-07T17:10:00+00:00", "last_seen": "2020-07-07T17:31:00+00:00"},
            {"person": {"id": 2}, "first_seen": "2020-07-07T18:05:00+00:00", "last_seen": "2020-07-07T18:30:00+00:00"},
            {"person": {"id": 9}, "first_seen": "2020-07-07T18:55:00+00:00", "last_seen": "2020-07-07T19:30:00+00:00"}]
    assert run("encounters", body, {"connections": connections, "runs": runs}) \
        == [[1, "2020-07-07T17:31:00+00:00"], [2, None], [3, None]]  # 2's encounter starts after: one instant
    encounter = {"person": {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "company_name": "Acme"},
                 "first_seen": "2020-07-07T17:14:00+00:00", "last_seen": "2020-07-07T17:31:00+00:00", "contacts": 12}
    la = "America/Los_Angeles"
    assert run("live", "return m.pastEncounter(arg[0], arg[1]);", [encounter, la]) \
        == "Ada Lovelace (Acme), Tue 7 Jul, 10:14\u201310:31 (PDT), 12 contacts"
    assert run("live", "return m.justMet(arg[0], arg[1]);", [encounter, la]) \
        == "You just met Ada Lovelace (Acme) at 10:14 (PDT)"


def test_map_bounds_fit_the_points_and_keep_a_neighbourhood_around_one(run):  # type: ignore[no-untyped-def]
    corner = {"latitude": 60.0, "longitude": 10.0}
    far = {"latitude": 60.01, "longitude": 10.02}
    (south, west), (north, east) = run("map", "return m.boundsOf(arg);", [corner, far])
    assert [south, west, north, east] == pytest.approx([60.0, 10.0, 60.01, 10.02])
    # One point gets 40 m on each side: as many degrees of latitude as 40 m, twice as many of longitude at 60°N.
    (south, west), (north, east) = run("map", "return m.boundsOf(arg);", [corner])
    assert (north - south) * 111320 == pytest.approx(40)
    assert (east - west) * 111320 * 0.5 == pytest.approx(40)
    assert (south + north) / 2 == pytest.approx(60.0) and (west + east) / 2 == pytest.approx(10.0)


def test_url_state_round_trips_and_spells_out_defaults(run):  # type: ignore[no-untyped-def]
    body = """const s = await import('/js/state.js');
              const state = s.readState(new URL(arg, location.origin));
              return [state, s.urlFor(state)];"""
    state, url = run("state", body, "/persons/12?distance=25&window=15&q=ana")
    filters = {"start_date": "2020-07-01", "end_date": "2020-12-30", "distance": "25", "window": "15"}
    assert state == {"personId": "12", "q": "ana", "filters": filters}
    assert url == "/persons/12?start_date=2020-07-01&end_date=2020-12-30&distance=25&window=15&q=ana"
    assert run("state", "return m.urlFor({personId: null, q: '', filters: {}});") == "/"


def test_problem_details_are_rendered_in_words(run):  # type: ignore[no-untyped-def]
    body = """const api = await import('/js/api.js');
              const error = new api.ApiError('Bad Request', 'end_date is before start_date',
                                             [{field: 'end_date', message: 'must not be before start_date'}], 400);
              const el = m.problemBlock(error); document.body.append(el); return el.innerText;"""
    text = run("problem", body)
    assert "Bad Request" in text
    assert "end_date is before start_date" in text
    assert "end_date: must not be before start_date" in text


def test_the_timeline_stays_readable_for_three_days_and_400_people(run):  # type: ignore[no-untyped-def]
    """400 meetings over three conference days (08:30-18:30 at the venue, crowded at the keynote and lunch), drawn
    at the narrowest width: no visible dot covers another, every person is a dot or counted in a column's "+N", no
    tick label runs into another, every label is an hour or a day in the one day format, and the drawing keeps a
    bounded height."""
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(400)
    start = datetime.now(UTC).replace(hour=15, minute=30, second=0, microsecond=0) - timedelta(days=3)  # 08:30 PDT
    meetings = []
    for i in range(400):
        day = rng.randrange(3)
        minute = rng.choice([rng.uniform(0, 600), rng.gauss(30, 10), rng.gauss(240, 20)])  # keynote, lunch
        at = start + timedelta(days=day, minutes=min(max(minute, 0), 600))
        meetings.append(loc(i + 1, at.isoformat()))
    drawn = run("timeline", """
        const { dedupe } = await import('/js/encounters.js');
        const { el } = m.renderTimeline({ encounters: dedupe(arg), onSelect() {}, timeZone: 'America/Los_Angeles' });
        document.body.replaceChildren(el);
        const box = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
        const dots = [...el.querySelectorAll('[data-testid=timeline-event]')];
        return {
          all: dots.length,
          visible: dots.filter((d) => d.getAttribute('display') !== 'none').map((d) => [+d.getAttribute('cx'),
                                                                                     +d.getAttribute('cy')]),
          more: [...el.querySelectorAll('[data-testid=timeline-more]')].map((t) => +t.textContent.slice(1)),
          ticks: [...el.querySelectorAll('[data-testid=timeline-tick]')].map((t) => [t.textContent, box(t)]),
          ends: [...el.querySelectorAll('[data-testid=timeline-start], [data-testid=timeline-end]')]
            .map((t) => t.textContent),
          height: el.viewBox.baseVal.height,
        };""", meetings)
    assert drawn["all"] == 400
    visible = drawn["visible"]
    for i, (x1, y1) in enumerate(visible):  # r = 5: centres at least a diameter apart on one axis
        assert all(abs(x1 - x2) >= 10 or abs(y1 - y2) >= 10 for x2, y2 in visible[i + 1:]), (x1, y1)
    # each column's "+N" stands for its dots not drawn, in place of its top one
    assert len(visible) + sum(drawn["more"]) == 400, (len(visible), drawn["more"])
    assert drawn["more"], "a keynote crowd of ~130 people in one column must be counted, not piled"
    labels = [text for text, _ in drawn["ticks"]]
    day = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}"
    assert labels and all(re.fullmatch(rf"\d\d:00|{day}", t) for t in labels), labels
    assert all(re.fullmatch(day, t) for t in drawn["ends"]), drawn["ends"]  # three days: the ends name days
    boxes = sorted(b for _, b in drawn["ticks"])
    assert all(a[2] <= b[0] for a, b in zip(boxes, boxes[1:], strict=False)), boxes  # no label runs into the next
    assert drawn["height"] <= 14 + 6 * 12 + 36


def test_the_event_stream_parser_reads_events_however_the_bytes_are_cut(run):  # type: ignore[no-untyped-def]
    """The live stream's reader (sse.js, over fetch so the token stays in a header): the HTML standard's event
    stream, cut into chunks at every awkward place: inside a field, between \\r and \\n, within a multi-line data."""
    stream = (": keep-alive\r\n\r\nevent: ready\r\nid: 7\r\ndata: {}\r\n\r\n"
              "retry: 1500\nevent: encounter\nid: 9\ndata: {\"a\":\ndata: 1}\n\n"
              "data: no type\rid: 10\r\r")
    expected = [["ready", "{}", "7"], ["encounter", '{"a":\n1}', "9"], ["message", "no type", "10"]]
    for size in (1, 2, 3, 5, 7, len(stream)):
        chunks = [stream[i:i + size] for i in range(0, len(stream), size)]
        got = run("sse", """
            const seen = [];
            const parser = m.eventParser((type, data, id) => seen.push([type, data, id]));
            for (const chunk of arg) parser.push(chunk);
            parser.end();
            return { seen, retry: parser.state.retry, last: parser.state.lastEventId };""", chunks)
        assert got == {"seen": expected, "retry": 1500, "last": "10"}, (size, got)
