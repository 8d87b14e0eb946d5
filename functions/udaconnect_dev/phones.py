"""Realistic phones at the demo venue: seeded streams of the fixes attendees' phones take and when they upload them.

Each person alternates standing at a booth (2-10 min, a few meters from it) and walking to another booth in a
straight line at 1.0-1.5 m/s. Their one phone takes a fix every 5-15 s (each interval drawn anew) and reports:

- GPS error: the environment sets an accuracy level of 3-15 m for each stand or walk (a window seat, the middle of
  a hall), each fix's `accuracy` within 15 % of it. The error is a 2-D gaussian whose 68 % radius is that accuracy
  (as Android's and iOS's accuracy is meant: sigma per axis = accuracy / 1.51), correlated in time as GPS errors
  are (an Ornstein-Uhlenbeck process, `correlation_seconds`; 0: each fix's error independent, the worst case for
  a speed rule).
- Indoor multipath jumps (`jump_share` of fixes, each lasting 1-3 fixes): the fix lands 30-50 m away. Phones
  then report a worse accuracy, but seldom the whole error: the reported accuracy is the jump's size times
  0.5-1.2 (so 15-60 m), never better than the fix's ordinary accuracy. These are the deliberately corrupted fixes.
- Uploads: the phone uploads its buffer every 30-90 s (its own period), arriving 0.2-2 s later. Now and then
  (`offline_per_hour`) it is offline for `offline_minutes`: it keeps taking fixes and uploads them all when it
  is back, late (arrival = upload time; each fix keeps its recorded time).

Everything is drawn from one random.Random(seed): the same arguments give the same fixes.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from udaconnect_dev.simulator import VENUE, VENUE_SPREAD

#: Meters per degree of latitude on the mean sphere (the one udaconnect.plausibility measures on).
M_PER_DEGREE = 6_371_008.8 * math.pi / 180
#: A 2-D gaussian's 68 % radius in units of its per-axis sigma: sqrt(2 ln(1 / 0.32)).
R68 = math.sqrt(2 * math.log(1 / 0.32))


@dataclass(frozen=True, slots=True)
class Fix:
    person_id: int
    device_id: str
    recorded_at: datetime
    arrived_at: datetime  # when its upload reached ingest
    longitude: float
    latitude: float
    accuracy: float  # meters, the phone's 68 % radius
    true_longitude: float
    true_latitude: float
    jump: bool = False  # an injected indoor multipath jump (deliberately corrupted)
    offline: bool = False  # buffered while the phone was offline, uploaded late when it was back
    upload: int = 0  # the phone's upload that carried it (0, 1, ...)

    @property
    def error_m(self) -> float:
        """How far the reported position is from the true one."""
        return distance_m(self.longitude, self.latitude, self.true_longitude, self.true_latitude)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Equirectangular distance: exact to well under a millimeter over a venue."""
    return math.hypot((lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2)), lat2 - lat1) * M_PER_DEGREE


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return lon + east_m / (M_PER_DEGREE * math.cos(math.radians(lat))), lat + north_m / M_PER_DEGREE


@dataclass(frozen=True, slots=True)
class Leg:
    """From `start` to `end` the person moves in a straight line from `a` to `b` (a == b: standing)."""

    start: datetime
    end: datetime
    a: tuple[float, float]  # (longitude, latitude)
    b: tuple[float, float]

    def at(self, when: datetime) -> tuple[float, float]:
        span = (self.end - self.start).total_seconds()
        share = 0.0 if span <= 0 else min(1.0, max(0.0, (when - self.start).total_seconds() / span))
        return self.a[0] + (self.b[0] - self.a[0]) * share, self.a[1] + (self.b[1] - self.a[1]) * share


def booths(count: int, rng: random.Random) -> list[tuple[float, float]]:
    """`count` booths spread over the venue's halls, as (longitude, latitude)."""
    return [(VENUE[1] + rng.uniform(-VENUE_SPREAD[1], VENUE_SPREAD[1]),
             VENUE[0] + rng.uniform(-VENUE_SPREAD[0], VENUE_SPREAD[0])) for _ in range(count)]


def agenda(rng: random.Random, start: datetime, end: datetime, places: Sequence[tuple[float, float]]) -> list[Leg]:
    """A person's day: stand at a booth for 2-10 min, walk to another at 1.0-1.5 m/s, and so on until `end`."""
    legs: list[Leg] = []
    at, here = start, _near(rng, rng.choice(places))
    while at < end:
        stay = at + timedelta(seconds=rng.uniform(120, 600))
        legs.append(Leg(at, stay, here, here))
        there = _near(rng, rng.choice(places))
        walk = distance_m(*here, *there) / rng.uniform(1.0, 1.5)
        legs.append(Leg(stay, stay + timedelta(seconds=walk), here, there))
        at, here = stay + timedelta(seconds=walk), there
    return legs


def _near(rng: random.Random, booth: tuple[float, float]) -> tuple[float, float]:
    """Where one stands at a booth: within 3 m of it."""
    bearing, radius = rng.uniform(0, 2 * math.pi), 3 * math.sqrt(rng.random())
    return offset(*booth, radius * math.sin(bearing), radius * math.cos(bearing))


@dataclass
class Phone:
    """One phone's habits and its error's state; `fixes` walks it along a person's legs."""

    person_id: int
    rng: random.Random
    device_id: str = ""
    correlation_seconds: float = 30.0
    jump_share: float = 0.02
    offline_per_hour: float = 0.5
    offline_minutes: float = 10.0
    upload_seconds: float = field(default=0.0)  # 0: drawn, 30-90 s

    def __post_init__(self) -> None:
        self.device_id = self.device_id or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.upload_seconds = self.upload_seconds or self.rng.uniform(30, 90)

    def fixes(self, legs: Sequence[Leg], start: datetime, end: datetime) -> list[Fix]:
        """The fixes taken between `start` and `end` along `legs`, each with the arrival of its upload."""
        rng, taken = self.rng, list[Fix]()
        error = (0.0, 0.0)
        sigma_was, at, last = None, start + timedelta(seconds=rng.uniform(0, 15)), None
        jumping, jump = 0, (0.0, 0.0, 0.0)
        levels: dict[int, float] = {}
        for leg_index, leg, when in _times(legs, at, end, rng):
            level = levels.setdefault(leg_index, rng.uniform(3, 15))
            accuracy = min(15.0, max(3.0, level * rng.uniform(0.85, 1.15)))
            sigma = accuracy / R68
            rho = 0.0 if last is None or self.correlation_seconds <= 0 else math.exp(
                -(when - last).total_seconds() / self.correlation_seconds)
            # the error keeps its direction and rescales when the environment changes: an OU process in units of sigma
            scale = sigma / sigma_was if sigma_was else 1.0
            fresh = math.sqrt(1 - rho * rho)
            east_error = rho * error[0] * scale + fresh * rng.gauss(0, sigma)
            error = (east_error, rho * error[1] * scale + fresh * rng.gauss(0, sigma))
            sigma_was, last = sigma, when
            if not jumping and rng.random() < self.jump_share / 2:  # jumps last 2 fixes on average
                bearing, size = rng.uniform(0, 2 * math.pi), rng.uniform(30, 50)
                jumping, jump = rng.choice((1, 2, 3)), (bearing, size, size * rng.uniform(0.5, 1.2))
            true = leg.at(when)
            east, north = error
            reported, jumped = accuracy, jumping > 0
            if jumped:
                bearing, size, claimed = jump
                east, north = east + size * math.sin(bearing), north + size * math.cos(bearing)
                reported, jumping = max(accuracy, claimed), jumping - 1
            lon, lat = offset(*true, east, north)
            taken.append(Fix(self.person_id, self.device_id, when, when, round(lon, 7), round(lat, 7),
                             round(reported, 1), true[0], true[1], jump=jumped))
        return self._uploaded(taken, start, end)

    def _uploaded(self, taken: list[Fix], start: datetime, end: datetime) -> list[Fix]:
        """Each fix with the arrival of the upload that carries it: every upload_seconds, or when back online."""
        rng, out, upload = self.rng, list[Fix](), 0
        offline = _offline(rng, start, end, self.offline_per_hour, timedelta(minutes=self.offline_minutes))
        due = start + timedelta(seconds=rng.uniform(0, self.upload_seconds))
        pending: list[Fix] = []
        back = False  # this upload is the one a phone makes when back online
        for fix in [*taken, None]:
            while fix is None and pending or fix is not None and fix.recorded_at >= due:
                down = next((o for o in offline if o[0] <= due < o[1]), None)
                if down is not None:
                    due, back = down[1], True  # back online then: what it takes until then joins that upload
                    continue
                came = due + timedelta(seconds=rng.uniform(0.2, 2.0))
                out.extend(_replace(f, arrived_at=came, upload=upload, offline=back) for f in pending)
                pending, upload, due = [], upload + (1 if pending else 0), due + timedelta(seconds=self.upload_seconds)
                back = False
            if fix is not None:
                pending.append(fix)
        return out


def _replace(fix: Fix, **changes: object) -> Fix:
    from dataclasses import replace

    return replace(fix, **changes)  # type: ignore[arg-type]


def _times(legs: Sequence[Leg], at: datetime, end: datetime, rng: random.Random) -> Iterator[tuple[int, Leg, datetime]]:
    """(leg index, leg, instant) of each fix: every 5-15 s, each interval drawn anew."""
    index = 0
    while at < end and index < len(legs):
        while index < len(legs) - 1 and legs[index].end <= at:
            index += 1
        yield index, legs[index], at
        at += timedelta(seconds=rng.uniform(5, 15))


def _offline(rng: random.Random, start: datetime, end: datetime, per_hour: float,
             length: timedelta) -> list[tuple[datetime, datetime]]:
    """Offline spells: a Poisson process of `per_hour` starts, each `length` long, never overlapping."""
    spells: list[tuple[datetime, datetime]] = []
    at = start
    while per_hour > 0:
        at += timedelta(hours=rng.expovariate(per_hour))
        if at >= end:
            break
        spells.append((at, at + length))
        at += length
    return spells


def conference(persons: int, start: datetime, duration: timedelta, seed: int = 1, booth_count: int = 40,
               **phone: float) -> list[Fix]:
    """Every fix of `persons` attendees (ids 1..persons) from `start` for `duration`, in the order they reach
    ingest (arrival, then device, then recorded time); `phone` overrides Phone's habits (e.g. jump_share=0)."""
    rng = random.Random(seed)
    places, end = booths(booth_count, rng), start + duration
    fixes: list[Fix] = []
    for person in range(1, persons + 1):
        own = random.Random(rng.getrandbits(64))
        legs = agenda(own, start, end, places)
        fixes.extend(Phone(person, own, **phone).fixes(legs, start, end))  # type: ignore[arg-type]
    return sorted(fixes, key=lambda f: (f.arrived_at, f.device_id, f.recorded_at))


def uploads(fixes: Sequence[Fix]) -> list[list[Fix]]:
    """The fixes grouped by the upload that carried them, in arrival order."""
    grouped: dict[tuple[str, int], list[Fix]] = {}
    for fix in fixes:
        grouped.setdefault((fix.device_id, fix.upload), []).append(fix)
    return sorted(grouped.values(), key=lambda u: (u[0].arrived_at, u[0].device_id))
