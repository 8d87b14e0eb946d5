"""A synthetic conference: attendees moving between booths and talks with GPS jitter, for demos and benchmarks."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


@dataclass(frozen=True)
class Conference:
    persons: int = 10_000
    fixes_per_person: int = 100
    booths: int = 300
    width_m: float = 500.0
    height_m: float = 300.0
    days: int = 30
    jitter_m: float = 2.0
    start: datetime = datetime(2020, 7, 1, tzinfo=UTC)
    #: The venue's south-west corner (Moscone Center, San Francisco).
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
        return [self.offset((i % columns + 0.5) * dx, (i // columns + 0.5) * dy) for i in range(self.booths)]

    def offset(self, east_m: float, north_m: float) -> tuple[float, float]:
        lat = self.latitude + north_m / METERS_PER_DEGREE
        lon = self.longitude + east_m / (METERS_PER_DEGREE * math.cos(math.radians(self.latitude)))
        return lon, lat

    def people(self) -> Iterator[tuple[int, str, str, str]]:
        rng = random.Random(self.seed)
        for person_id in range(1, self.persons + 1):
            yield person_id, rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)

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


@dataclass(frozen=True)
class DemoConference(Conference):
    """A conference people can explore, in the demo venue (udaconnect.places.DEMO_VENUE) and its time zone.

    Each attendee comes on most days, 08:30-09:30 until 17:00-18:30 local time; in each talk slot they sit in a
    talk (a seat kept for the whole talk) or walk the booths of their interests (a spot at the booth for 5-20
    minutes), and most take lunch in the dining hall and coffee at a bar. A fix every ~4 minutes with indoor-grade
    noise (`jitter_m`, one standard deviation per axis). Within 5 m and 15 minutes an attendee meets tens of
    people a day, not everyone (see `met_per_day`).
    """

    persons: int = 400
    days: int = 3
    jitter_m: float = 1.5
    #: The first day (its date, taken in the venue's time zone).
    start: datetime = datetime(2020, 7, 6, tzinfo=UTC)
    time_zone: str = "America/Los_Angeles"
    #: Minutes between an attendee's fixes (each shifted by up to a minute).
    every_min: int = 4
    #: No fix at or after this moment: the seed's, so a demo up to today is a conference that happened so far
    #: (the simulated phones carry it on live); None: every day whole.
    ends: datetime | None = None
    #: (hour, minute, minutes) of each talk slot, local time; the first is the keynote on the main stage.
    talk_slots: tuple[tuple[int, int, int], ...] = (
        (9, 0, 60), (10, 30, 45), (11, 30, 45), (13, 45, 45), (14, 45, 45), (15, 45, 45), (16, 45, 30))

    @property
    def expected_fixes(self) -> int:
        return int(self.persons * self.days * 0.65 * 8.5 * 60 / self.every_min)

    def _venue(self) -> dict[str, list]:
        from udaconnect.places import DEMO_VENUE, read_venue

        kinds: dict[str, list] = {}
        for place in read_venue(DEMO_VENUE).places:
            ring = place.geometry["coordinates"][0]
            lons, lats = [x for x, _ in ring], [y for _, y in ring]
            kinds.setdefault(place.kind, []).append((min(lons), min(lats), max(lons), max(lats)))
        return kinds

    def room_positions(self) -> list[tuple[float, float]]:
        """The centre of each talk room (the main stage first)."""
        venue = self._venue()
        return [((a + c) / 2, (b + d) / 2) for a, b, c, d in venue["stage"] + venue["room"]]

    def fixes(self) -> Iterator[tuple[int, float, float, datetime]]:
        for fix in self._schedule():
            if self.ends is None or fix[3] < self.ends:
                yield fix

    def _schedule(self) -> Iterator[tuple[int, float, float, datetime]]:
        """Every attendee's fixes over the whole of each day, attendee by attendee."""
        from zoneinfo import ZoneInfo

        rng = random.Random(self.seed + 2)
        venue = self._venue()
        booths, rooms = venue["booth"], venue["stage"] + venue["room"]
        dining, coffee, halls = venue["food"], venue["coffee"], venue["hall"]
        zone = ZoneInfo(self.time_zone)
        cos_lat = math.cos(math.radians(self.latitude))
        sigma = self.jitter_m / METERS_PER_DEGREE

        def spot(box: tuple[float, float, float, float], around_m: float = -1.0) -> tuple[float, float]:
            """A random point inside `box`, `-around_m` meters from its sides (or up to `around_m` outside)."""
            a, b, c, d = box
            dy = around_m / METERS_PER_DEGREE
            dx = dy / cos_lat
            return rng.uniform(a - dx, c + dx), rng.uniform(b - dy, d + dy)

        for person_id in range(1, self.persons + 1):
            interests = rng.sample(range(len(booths)), k=min(len(booths), 6))
            favourite_rooms = rng.sample(range(1, len(rooms)), k=min(3, len(rooms) - 1))
            talkative = rng.uniform(0.3, 0.7)  # share of talk slots spent in talks rather than at booths
            for day in range(self.days):
                if rng.random() < 0.35:  # most come on two of three days
                    continue
                date = (self.start + timedelta(days=day)).date()

                def local(hour: int, minute: int, _date=date) -> datetime:
                    return datetime(_date.year, _date.month, _date.day, hour, minute, tzinfo=zone).astimezone(UTC)

                clock = local(8, 30) + timedelta(minutes=rng.randrange(60))
                close = local(17, 0) + timedelta(minutes=rng.randrange(90))
                lunch = local(12, 15) + timedelta(minutes=rng.randrange(45))
                had_lunch = rng.random() < 0.15  # some skip it
                while clock < close:
                    slot = self._slot_at(clock, local)
                    if slot is not None and rng.random() < (0.5 if slot[0] == 0 else talkative):
                        index, ends = slot
                        room = 0 if index == 0 else (rng.choice(favourite_rooms) if rng.random() < 0.6
                                                     else rng.randrange(1, len(rooms)))
                        seat, until = spot(rooms[room]), ends
                    elif not had_lunch and clock >= lunch:
                        had_lunch = True
                        seat, until = spot(dining[0]), clock + timedelta(minutes=rng.randrange(20, 45))
                    elif rng.random() < 0.04:
                        seat, until = spot(rng.choice(coffee)), clock + timedelta(minutes=rng.randrange(5, 12))
                    elif rng.random() < 0.6:  # walking the halls, reading mail in a corner
                        seat, until = spot(rng.choice(halls)), clock + timedelta(minutes=rng.randrange(5, 15))
                    else:
                        booth = booths[rng.choice(interests) if rng.random() < 0.85 else rng.randrange(len(booths))]
                        seat, until = spot(booth, -0.5), clock + timedelta(minutes=rng.randrange(15, 35))
                    until = min(until, close)
                    while clock < until:
                        lon, lat = seat
                        yield person_id, lon + rng.gauss(0, sigma) / cos_lat, lat + rng.gauss(0, sigma), clock
                        clock += timedelta(minutes=self.every_min, seconds=rng.randrange(-60, 60))
                    clock = max(clock, until) + timedelta(minutes=rng.randrange(1, 4))

    def _slot_at(self, when: datetime, local) -> tuple[int, datetime] | None:  # noqa: ANN001 - local(hour, minute)
        """The talk (index, end) one would walk into at `when`: from 5 minutes before it until 10 after it starts."""
        for index, (hour, minute, minutes) in enumerate(self.talk_slots):
            begins = local(hour, minute)
            if begins - timedelta(minutes=5) <= when < begins + timedelta(minutes=10):
                return index, begins + timedelta(minutes=minutes)
        return None


def met_per_day(fixes: Iterator[tuple[int, float, float, datetime]], meters: float = 5.0,
                minutes: float = 15.0, time_zone: str = "America/Los_Angeles") -> list[int]:
    """People each attendee met (fixes within `meters` and `minutes`) per attendee-day present, local days."""
    from collections import defaultdict
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(time_zone)
    cell_m, slot = meters, timedelta(minutes=minutes)
    buckets: dict[tuple, list] = defaultdict(list)
    points = []
    for person, lon, lat, at in fixes:
        x = (lon + 122.4) * METERS_PER_DEGREE * math.cos(math.radians(lat))
        y = (lat - 37.78) * METERS_PER_DEGREE
        key = (int(x // cell_m), int(y // cell_m), int(at.timestamp() // slot.total_seconds()))
        buckets[key].append((person, x, y, at))
        points.append((person, x, y, at, key))
    met: dict[tuple, set[int]] = defaultdict(set)
    for person, x, y, at, (cx, cy, ct) in points:
        day = at.astimezone(zone).date()
        met.setdefault((person, day), set())
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dt in (-1, 0, 1):
                    for other, ox, oy, oat in buckets.get((cx + dx, cy + dy, ct + dt), ()):
                        if other != person and abs(oat - at) <= slot and (ox - x) ** 2 + (oy - y) ** 2 <= meters ** 2:
                            met[(person, day)].add(other)
    return sorted(len(people) for people in met.values())
