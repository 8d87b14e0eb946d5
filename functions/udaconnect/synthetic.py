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
    """A conference people can explore: days of booth visits and talks, a fix every few minutes."""

    persons: int = 400
    booths: int = 60
    width_m: float = 180.0
    height_m: float = 120.0
    days: int = 3
    rooms: int = 4
    start: datetime = datetime(2020, 7, 6, tzinfo=UTC)
    #: (hour, minute) each talk slot starts; talks last 45 minutes.
    talk_slots: tuple[tuple[int, int], ...] = ((10, 0), (11, 30), (14, 0), (15, 30))

    @property
    def expected_fixes(self) -> int:
        return int(self.persons * self.days * 0.85 * 100)

    def room_positions(self) -> list[tuple[float, float]]:
        """Talk rooms along the north wall, outside the booth hall."""
        step = self.width_m / self.rooms
        return [self.offset((i + 0.5) * step, self.height_m + 25) for i in range(self.rooms)]

    def fixes(self) -> Iterator[tuple[int, float, float, datetime]]:
        rng = random.Random(self.seed + 2)
        booths, rooms = self.booth_positions(), self.room_positions()
        cos_lat = math.cos(math.radians(self.latitude))
        sigma = self.jitter_m / 2 / METERS_PER_DEGREE
        for person_id in range(1, self.persons + 1):
            interests = rng.sample(booths, k=min(len(booths), 12))
            for day in range(self.days):
                if rng.random() < 0.15:  # skipped this day
                    continue
                clock = self.start + timedelta(days=day, hours=8, minutes=30 + rng.randrange(60))
                close = self.start + timedelta(days=day, hours=17, minutes=rng.randrange(60))
                while clock < close:
                    talk = self._talk_at(clock)
                    if talk is not None and rng.random() < 0.5:
                        room = rooms[(talk + person_id) % len(rooms)] if rng.random() < 0.7 else rng.choice(rooms)
                        place, stay = room, 45
                    else:
                        place = rng.choice(interests) if rng.random() < 0.8 else rng.choice(booths)
                        stay = rng.randrange(5, 25)
                    for minute in range(0, stay, 5):
                        at = clock + timedelta(minutes=minute, seconds=rng.randrange(60))
                        lon, lat = place
                        yield person_id, lon + rng.gauss(0, sigma) / cos_lat, lat + rng.gauss(0, sigma), at
                    clock += timedelta(minutes=stay + rng.randrange(1, 4))

    def _talk_at(self, when: datetime) -> int | None:
        for index, (hour, minute) in enumerate(self.talk_slots):
            begins = when.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if begins - timedelta(minutes=5) <= when < begins + timedelta(minutes=10):
                return index
        return None
