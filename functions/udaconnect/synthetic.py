"""A synthetic conference of realistic attendees and phones, for the demo and every benchmark (one model, sized).

Attendees (`persons`) come on some of `days` days (a fifth on only one), arriving 08:00-09:45 and leaving
16:00-18:30 local time (some at lunch), through the lobby. In each talk slot a share of them sit in a
talk (the keynote on the main stage, the others in the rooms: hundreds at once); between talks they visit booths
for a few minutes, take coffee, sit in the halls; most lunch in the dining hall at its peak. They walk between
places in straight lines at 1.0-1.5 m/s. A third come in small groups (2-4 colleagues) who spend the day together
a meter or two apart: known true meetings (`groups`). The venue is the demo's (udaconnect.places.DEMO_VENUE); every
`wing_attendees` attendees get a copy of it further east (a bigger convention centre), so density, and the number
of people one meets, does not grow with the size of the benchmark.

Each attendee's phone takes a fix every `report_every_s` seconds (its own period, drawn once; each interval shifted
by up to 2 s) and uploads `buffer` fixes at a time (one CloudEvent: its id, each fix's index in it). GPS error:
each stay or walk has an accuracy level (the 68 % radius a phone reports: ~2 m under the venue's beacons, now and
then 8-20 m), each fix's `accuracy` within 15 % of it; the error is a 2-D gaussian with sigma = accuracy / 1.51 per
axis, correlated in time (an Ornstein-Uhlenbeck process of `correlation_s`). Deterministic: the same arguments give
the same fixes. `met_per_day` states the distribution it makes (the bench's `scale` prints it at every size).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

METERS_PER_DEGREE = 111_320.0

FIRST = (
    "Ava", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
    "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
    "Aiko", "Bruno", "Carmen", "Diego", "Esme", "Felix", "Gita", "Hugo", "Ivy", "Jamal", "Keiko", "Liam", "Mira",
    "Noor", "Olga", "Pablo", "Rhea", "Sami", "Thea", "Ulrich", "Vera", "Wyatt", "Yara", "Zane",
)
LAST = (
    "Abara", "Berg", "Chen", "Diaz", "Eriksen", "Fontaine", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Laurent", "Moreau", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi", "Silva", "Tanaka", "Ueda", "Varga",
    "Weber", "Xu", "Yilmaz", "Zhou", "Novak", "Singh", "Murphy", "Costa", "Fischer", "Kim", "Lopez", "Mensah",
    "Nguyen", "Olsen", "Park", "Reyes", "Schmidt", "Torres",
)
COMPANIES = (
    "Alpha Omega Upholstery", "Helpful Tree Care", "Paul Tax Service", "Rocky Mountain Geodesy",
    "Northwind Traders", "Blue Harbor Labs", "Cedar & Pine", "Quantum Bakery", "Orbital Freight", "Lumen Health",
    "Tidewater Analytics", "Granite Robotics", "Copper Kettle Media", "Silverline Energy", "Fable Games",
    "Urban Canopy", "Kestrel Security", "Meridian Maps", "Open Sky Airlines", "Bright Loom Textiles",
)


#: A 2-D gaussian's 68 % radius in units of its per-axis sigma: sqrt(2 ln(1 / 0.32)).
R68 = math.sqrt(2 * math.log(1 / 0.32))
Box = tuple[float, float, float, float]  # (west, south, east, north) in meters from the venue's corner


class Fix(NamedTuple):
    """One fix as a phone uploaded it: `report` numbers the person's uploads, `index` the fix in its upload."""

    person_id: int
    longitude: float
    latitude: float
    at: datetime
    accuracy: float
    report: int
    index: int  # type: ignore[assignment]  # the fix's index in its upload, as the wire contract names it


class Leg(NamedTuple):
    """From `begin` to `end` (seconds into the day, UTC) a straight line from (x0, y0) to (x1, y1), in meters."""

    begin: float
    end: float
    x0: float
    y0: float
    x1: float
    y1: float
    accuracy: float


@dataclass(frozen=True)
class Conference:
    persons: int = 2_500
    days: int = 3
    #: The first day (its date, taken in the venue's time zone).
    start: datetime = datetime(2020, 7, 6, tzinfo=UTC)
    time_zone: str = "America/Los_Angeles"
    #: Each phone's period between fixes is drawn once from this range (seconds).
    report_every_s: tuple[int, int] = (10, 30)
    #: Fixes per upload (one CloudEvent).
    buffer: int = 50
    correlation_s: float = 60.0
    #: Attendees per copy of the venue: more attendees, more wings side by side, the same crowds.
    wing_attendees: int = 1_000
    #: No fix at or after this moment (the demo's seed: a conference that happened so far); None: days whole.
    ends: datetime | None = None
    #: (hour, minute, minutes) of each talk slot, local time; the first is the keynote on the main stage.
    talk_slots: tuple[tuple[int, int, int], ...] = (
        (9, 0, 60), (10, 30, 45), (11, 30, 45), (13, 45, 45), (14, 45, 45), (15, 45, 45), (16, 45, 30))
    #: The venue's south-west corner (Moscone Center, San Francisco).
    longitude: float = -122.4030
    latitude: float = 37.7830
    seed: int = 42

    @property
    def wings(self) -> int:
        return max(1, math.ceil(self.persons / self.wing_attendees))

    @property
    def expected_fixes(self) -> int:
        """About how many fixes it makes (for a progress bar): ~0.8 of attendee-days, ~8.3 hours a day."""
        low, high = self.report_every_s
        return int(self.persons * self.days * 0.8 * 8.3 * 3600 * 2 / (low + high))

    def offset(self, east_m: float, north_m: float) -> tuple[float, float]:
        """(longitude, latitude) `east_m` and `north_m` meters from the venue's corner."""
        lat = self.latitude + north_m / METERS_PER_DEGREE
        lon = self.longitude + east_m / (METERS_PER_DEGREE * math.cos(math.radians(self.latitude)))
        return lon, lat

    def people(self) -> Iterator[tuple[int, str, str, str]]:
        rng = random.Random(self.seed)
        for person_id in range(1, self.persons + 1):
            yield person_id, rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)

    def _venue(self) -> dict[str, list]:
        """The demo venue's places by kind, each as (min lon, min lat, max lon, max lat)."""
        from udaconnect.places import DEMO_VENUE, read_venue

        kinds: dict[str, list] = {}
        for place in read_venue(DEMO_VENUE).places:
            ring = place.geometry["coordinates"][0]
            lons, lats = [x for x, _ in ring], [y for _, y in ring]
            kinds.setdefault(place.kind, []).append((min(lons), min(lats), max(lons), max(lats)))
        return kinds

    def _boxes(self) -> dict[str, list[Box]]:
        """The venue's places by kind in meters from its corner."""
        east = METERS_PER_DEGREE * math.cos(math.radians(self.latitude))
        return {kind: [((a - self.longitude) * east, (b - self.latitude) * METERS_PER_DEGREE,
                        (c - self.longitude) * east, (d - self.latitude) * METERS_PER_DEGREE) for a, b, c, d in boxes]
                for kind, boxes in self._venue().items()}

    def room_positions(self) -> list[tuple[float, float]]:
        """The centre of each talk room (the main stage first)."""
        venue = self._venue()
        return [((a + c) / 2, (b + d) / 2) for a, b, c, d in venue["stage"] + venue["room"]]

    def groups(self) -> list[tuple[int, ...]]:
        """Who comes together (person ids, the first leads): a third of attendees, in groups of 2-4."""
        rng = random.Random(self.seed + 3)
        out, person = [], 1
        while person <= self.persons:
            size = rng.choice((2, 2, 3, 4)) if rng.random() < 0.15 else 1
            size = min(size, self.persons - person + 1)
            out.append(tuple(range(person, person + size)))
            person += size
        return out

    def fixes(self) -> Iterator[Fix]:
        """Every phone's fixes, group by group, day by day, up to `ends` (the same as the whole days', cut)."""
        for fix in self._whole_days():
            if self.ends is None or fix.at < self.ends:
                yield fix

    def _whole_days(self) -> Iterator[Fix]:
        from zoneinfo import ZoneInfo

        rng = random.Random(self.seed + 2)
        zone = ZoneInfo(self.time_zone)
        boxes = self._boxes()
        span = max(c for kind in boxes.values() for _, _, c, _ in kind) + 60.0  # a wing's width and a street
        rooms = boxes["stage"] + boxes["room"]
        room_weights = [1.0 / (i + 1) ** 0.5 for i in range(len(rooms) - 1)]  # some rooms draw bigger crowds
        cos_lat = math.cos(math.radians(self.latitude))
        periods = {}
        reports: dict[int, list[int]] = {}  # per person: [uploads so far, fixes in the current one]
        for number, group in enumerate(self.groups()):
            wing = number % self.wings
            shift = wing * span
            days = [d for d in range(self.days) if rng.random() < 0.82] or [rng.randrange(self.days)]
            if self.days > 1 and rng.random() < 0.2:
                days = [rng.choice(days)]
            interests = rng.sample(range(len(boxes["booth"])), k=min(8, len(boxes["booth"])))
            favourites = rng.choices(range(1, len(rooms)), weights=room_weights, k=3)
            talkative = rng.uniform(0.4, 0.9)
            for person in group:
                periods[person] = rng.uniform(*self.report_every_s)
                reports[person] = [0, 0]
            for day in days:
                date = (self.start + timedelta(days=day)).date()
                midnight = datetime(date.year, date.month, date.day, tzinfo=zone).astimezone(UTC)
                legs = self._day(rng, midnight, boxes, rooms, favourites, interests, talkative, shift)
                for member, person in enumerate(group):
                    # group members a meter or two apart: each a fixed offset from the leader
                    dx, dy = (0.0, 0.0) if member == 0 else (rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5))
                    yield from self._phone(rng, person, midnight, legs, dx, dy, periods[person], reports[person],
                                           cos_lat)

    def _day(self, rng: random.Random, midnight: datetime, boxes: dict[str, list[Box]], rooms: list[Box],
             favourites: list[int], interests: list[int], talkative: float, shift: float) -> list[Leg]:
        """One attendee's (or group's) day as legs: stays (x0 == x1) and the walks between them."""
        def local(hour: int, minute: int = 0) -> float:
            from zoneinfo import ZoneInfo

            wall = datetime(midnight.year, midnight.month, midnight.day, hour, minute,
                            tzinfo=ZoneInfo(self.time_zone))
            return (wall.astimezone(UTC) - midnight).total_seconds()

        def spot(box: Box, margin: float = 0.5) -> tuple[float, float]:
            a, b, c, d = box
            return rng.uniform(a + margin, c - margin) + shift, rng.uniform(b + margin, d - margin)

        def level() -> float:
            return rng.uniform(8, 20) if rng.random() < 0.03 else rng.lognormvariate(math.log(2.0), 0.35)

        slots = [(local(h, m), local(h, m) + minutes * 60) for h, m, minutes in self.talk_slots]
        clock = local(8) + rng.triangular(0, 105 * 60, 45 * 60)
        leave = local(16) + rng.uniform(0, 150 * 60) if rng.random() > 0.1 else local(13) + rng.uniform(0, 2 * 3600)
        lunch_at = local(12) + rng.triangular(0, 75 * 60, 20 * 60)
        lunched = rng.random() < 0.12  # some skip it
        x, y = spot(boxes["lobby"][0])  # in from the street: phones are counted from the lobby on
        legs: list[Leg] = []
        while clock < leave:
            talk = next(((i, end) for i, (begin, end) in enumerate(slots) if begin - 300 <= clock < begin + 600),
                        None)
            if talk and rng.random() < (0.6 if talk[0] == 0 else talkative):
                room = 0 if talk[0] == 0 else (rng.choice(favourites) if rng.random() < 0.6
                                               else rng.randrange(1, len(rooms)))
                target, until = spot(rooms[room], 1.0), talk[1] - (rng.uniform(0, 900) if rng.random() < 0.1 else 0)
            elif not lunched and clock >= lunch_at:
                lunched = True
                a, b, c, d = boxes["food"][0]  # tables of eight, 3 m apart
                tx, ty = rng.randrange(int((c - a - 2) // 3)), rng.randrange(int((d - b - 2) // 3))
                target = (a + 1.5 + 3 * tx + rng.uniform(-0.8, 0.8) + shift, b + 1.5 + 3 * ty + rng.uniform(-0.8, 0.8))
                until = clock + rng.uniform(20, 45) * 60
            else:
                draw = rng.random()
                if draw < 0.3:  # a booth of one's interests (or one passing by), a few minutes at its front
                    booth = boxes["booth"][rng.choice(interests) if rng.random() < 0.8
                                           else rng.randrange(len(boxes["booth"]))]
                    target, until = spot(booth, 0.3), clock + rng.uniform(3, 10) * 60
                elif draw < 0.36:
                    target, until = spot(rng.choice(boxes["coffee"]), 0.5), clock + rng.uniform(4, 10) * 60
                else:  # the halls: a chat, a table with a laptop
                    target, until = spot(rng.choice(boxes["hall"]), 2.0), clock + rng.uniform(10, 40) * 60
            walk = math.hypot(target[0] - x, target[1] - y) / rng.uniform(1.0, 1.5)
            legs.append(Leg(clock, clock + walk, x, y, *target, level()))
            clock += walk
            x, y = target
            until = min(max(until, clock + 60), leave)
            legs.append(Leg(clock, until, x, y, x, y, level()))
            clock = until
        door = spot(boxes["lobby"][0])
        legs.append(Leg(clock, clock + math.hypot(door[0] - x, door[1] - y) / 1.2, x, y, *door, level()))
        return legs

    def _phone(self, rng: random.Random, person: int, midnight: datetime, legs: list[Leg], dx: float, dy: float,
               period: float, report: list[int], cos_lat: float) -> Iterator[Fix]:
        """The fixes one phone takes along `legs`, with correlated GPS error and its uploads."""
        ex = ey = 0.0
        keep_last = 0.0
        t = legs[0].begin + rng.uniform(0, period)
        per_x = 1.0 / (METERS_PER_DEGREE * cos_lat)
        for leg in legs:
            while t < leg.end:
                share = 0.0 if leg.end <= leg.begin else (t - leg.begin) / (leg.end - leg.begin)
                accuracy = leg.accuracy * rng.uniform(0.85, 1.15)
                sigma = accuracy / R68
                keep = math.exp(-(t - keep_last) / self.correlation_s) if keep_last else 0.0
                fresh = math.sqrt(1 - keep * keep) * sigma
                ex, ey = keep * ex + rng.gauss(0, fresh), keep * ey + rng.gauss(0, fresh)
                keep_last = t
                x = leg.x0 + (leg.x1 - leg.x0) * share + dx + ex
                y = leg.y0 + (leg.y1 - leg.y0) * share + dy + ey
                at = midnight + timedelta(seconds=round(t, 3))
                yield Fix(person, self.longitude + x * per_x, self.latitude + y / METERS_PER_DEGREE, at,
                          round(accuracy, 1), report[0], report[1])
                report[1] += 1
                if report[1] == self.buffer:
                    report[0], report[1] = report[0] + 1, 0
                t += period + rng.uniform(-2, 2)


@dataclass(frozen=True)
class DemoConference(Conference):
    """The demo: 400 attendees over 3 days in the demo venue (its places loaded beside it). Its phones report
    every 3-5 minutes, not 10-30 s, so that seeding stays quick; the benchmarks use the phones' real rates."""

    persons: int = 400
    report_every_s: tuple[int, int] = (180, 300)


@dataclass(frozen=True)
class BoothGrid:
    """Every fix at one of `booths` booths on a grid, with `jitter_m`, at random times over `days` days: everyone
    meets everyone. Not a conference (see Conference): kept for the query-plan tests, which need dense data."""

    persons: int = 10_000
    fixes_per_person: int = 100
    booths: int = 300
    width_m: float = 500.0
    height_m: float = 300.0
    days: int = 30
    jitter_m: float = 2.0
    start: datetime = datetime(2020, 7, 1, tzinfo=UTC)
    longitude: float = -122.4030
    latitude: float = 37.7830
    seed: int = 42

    @property
    def expected_fixes(self) -> int:
        return self.persons * self.fixes_per_person

    def booth_positions(self) -> list[tuple[float, float]]:
        """Booths on a regular grid filling the venue, as (longitude, latitude)."""
        columns = max(1, round(math.sqrt(self.booths * self.width_m / self.height_m)))
        rows = math.ceil(self.booths / columns)
        dx, dy = self.width_m / columns, self.height_m / rows
        return [self.offset((i % columns + 0.5) * dx, (i // columns + 0.5) * dy)  # type: ignore[misc]  # borrowed
                for i in range(self.booths)]

    offset = Conference.offset  # the same geometry: BoothGrid has every field it reads
    people = Conference.people

    def fixes(self) -> Iterator[tuple[int, float, float, datetime]]:
        """(person_id, longitude, latitude, time): each fix at a random booth with Gaussian jitter."""
        rng = random.Random(self.seed + 1)
        booths = self.booth_positions()
        span = self.days * 86_400
        cos_lat = math.cos(math.radians(self.latitude))
        sigma = self.jitter_m / 2 / METERS_PER_DEGREE
        for person_id in range(1, self.persons + 1):
            for _ in range(self.fixes_per_person):
                lon, lat = booths[rng.randrange(len(booths))]
                yield (
                    person_id,
                    lon + rng.gauss(0, sigma) / cos_lat,
                    lat + rng.gauss(0, sigma),
                    self.start + timedelta(seconds=rng.randrange(span)),
                )


def met_per_day(fixes: Iterable[tuple], meters: float = 5.0, minutes: float | None = 15.0,
                time_zone: str = "America/Los_Angeles") -> list[int]:
    """People each attendee met per attendee-day present (local days), sorted: another's fix within `meters` of
    one of theirs and `minutes` of it (None: the same day). A direct pairwise computation over the fixes (a grid
    of `meters` cells), independent of the search: for small conferences and tests."""
    from collections import defaultdict
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(time_zone)
    slot = 86_400.0 if minutes is None else minutes * 60.0
    buckets: dict[tuple, list] = defaultdict(list)
    points: list[tuple] = []
    days: dict[datetime, object] = {}
    for person, lon, lat, at, *_ in fixes:
        x = (lon + 122.4) * METERS_PER_DEGREE * math.cos(math.radians(37.78))
        y = (lat - 37.78) * METERS_PER_DEGREE
        hour = at.replace(minute=0, second=0, microsecond=0)
        day = days.get(hour) or days.setdefault(hour, at.astimezone(zone).date())
        seconds = at.timestamp()
        key = (int(x // meters), int(y // meters), int(seconds // slot) if minutes is not None else day)
        buckets[key].append((person, x, y, seconds, day))
        points.append((person, x, y, seconds, day, key))
    met: dict[tuple, set[int]] = defaultdict(set)
    near = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    steps = (-1, 0, 1) if minutes is not None else (0,)
    limit = meters * meters
    for person, x, y, seconds, day, (cx, cy, ct) in points:
        mine = met[(person, day)]
        for dx, dy in near:
            for dt in steps:
                key = (cx + dx, cy + dy, ct + dt if minutes is not None else ct)
                for other, ox, oy, os_, oday in buckets.get(key, ()):
                    if other != person and other not in mine and abs(os_ - seconds) <= slot and oday == day \
                            and (ox - x) ** 2 + (oy - y) ** 2 <= limit:
                        mine.add(other)
    return sorted(len(people) for people in met.values())


def distribution(met: list[int]) -> dict[str, float]:
    """Median and 95th percentile of people met per attendee-day."""
    if not met:
        return {"median": 0, "p95": 0, "attendee_days": 0}
    ordered = sorted(met)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"median": median, "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "attendee_days": len(ordered)}
