"""Whether a person's fix could have happened: the rules persist applies before a fix may prove a meeting.

Pure (no I/O): persist hands it the person's trusted fixes around the new ones (read under a per-person lock,
udaconnect.persist.store) and stores each fix it refuses to believe in `location_untrusted` with the reason.

- LATE: recorded more than `max_age` before it reached ingest (the CloudEvent extension `arrivedat`, which ingest
  sets and a client cannot). A phone buffers while offline and uploads when it is back; a fix older than that
  window is a claim about the past nobody can check any more: the forged backdated meeting.
- IMPRECISE: the phone's own accuracy is worse than `max_accuracy`, or it gave none: it cannot tell a booth from
  its neighbour, so it never proves a meeting a few meters wide. A fix without accuracy that someone vouches for
  (Point.vouched: an organizer's import of the original's data, which has none, or UDACONNECT_AUTH=open, where
  nothing is checked) is judged as if it had `max_accuracy` (the tolerance widens) and is kept trusted.
- SPEED: reaching it from the person's nearest trusted fix before or after it (all their devices together, in
  time order) needs more than `max_speed` once both accuracies are taken off the distance: a teleport, or a
  second device carried somewhere else.
- BURST: within BURST_SECONDS of a trusted fix of the same person at another point, whatever the accuracies: a
  person is one place at a time and a phone reports far less often, so a spray of places at one instant yields
  at most the first one consistent with the track (each other would be one more probe of everyone's
  whereabouts). Two phones of one person reporting within the same second lose the second fix: the first
  already says where the person was.

A fix found consistent is trusted and becomes a neighbour of the later ones of the same judgement.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

LATE, IMPRECISE, SPEED, BURST = "late", "imprecise", "speed", "burst"
REASONS = (LATE, IMPRECISE, SPEED, BURST)
#: Two fixes of one person closer in time than this must be one place (within both accuracies).
BURST_SECONDS = 1.0
_EARTH_RADIUS_M = 6_371_008.8  # the mean radius: within 0.5 % of the spheroid at any latitude
_METERS_PER_DEGREE = _EARTH_RADIUS_M * math.pi / 180


@dataclass(frozen=True, slots=True)
class Rules:
    max_age: timedelta = timedelta(minutes=30)
    max_speed: float = 2.5  # meters per second
    max_accuracy: float = 50.0  # meters


class Point(NamedTuple):  # a tuple: made for every fix judged, so cheap to make
    at: datetime
    longitude: float
    latitude: float
    accuracy: float | None
    #: Trusted without an accuracy: an organizer's import, or UDACONNECT_AUTH=open (a device's fix never is).
    vouched: bool = False


def is_late(recorded_at: datetime, arrived: datetime, rules: Rules) -> bool:
    return recorded_at < arrived - rules.max_age


def judge(trusted: Sequence[Point], new: Sequence[Point], arrived: Sequence[datetime], rules: Rules
          ) -> list[str | None]:
    """The reason each of `new` is not to be trusted, or None: `trusted` are the person's believed fixes around
    them (any order), `arrived` when each new fix reached ingest."""
    reasons: list[str | None] = [None] * len(new)
    for i, (point, came) in enumerate(zip(new, arrived, strict=True)):
        if is_late(point.at, came, rules):
            reasons[i] = LATE
        elif point.accuracy is None and not point.vouched or (point.accuracy or 0) > rules.max_accuracy:
            reasons[i] = IMPRECISE
    known = sorted(trusted, key=lambda p: p.at)
    times = [p.at.timestamp() for p in known]  # POSIX seconds: exact to well under a microsecond here
    for i in sorted((i for i in range(len(new)) if reasons[i] is None), key=lambda i: new[i].at):
        point = new[i]
        moment = point.at.timestamp()
        at = bisect.bisect_right(times, moment)
        reason = None
        for j in range(max(0, at - 2), min(at + 1, len(known))):  # the one before, any at that instant, the next
            if reason := _against(point, moment, known[j], times[j], rules):
                break
        if reason is None:
            known.insert(at, point)
            times.insert(at, moment)
        reasons[i] = reason
    return reasons


def _against(point: Point, moment: float, other: Point, other_moment: float, rules: Rules) -> str | None:
    if point.longitude == other.longitude and point.latitude == other.latitude:
        return None  # the same place (another copy of the fix, a redelivery, a phone standing still)
    seconds = abs(moment - other_moment)
    if seconds < BURST_SECONDS:
        return BURST  # whatever the accuracies: a spray at one moment, even if each point is a blur
    bound = rules.max_accuracy
    allowed = (rules.max_speed * seconds + (bound if point.accuracy is None else min(point.accuracy, bound))
               + (bound if other.accuracy is None else min(other.accuracy, bound)))
    # the common case, a walk, is decided by a bound of the distance (along a meridian, then a parallel: never
    # shorter than the great circle), without the haversine
    dlambda = abs(other.longitude - point.longitude)
    along = abs(other.latitude - point.latitude) + min(dlambda, 360 - dlambda) * math.cos(math.radians(other.latitude))
    if _METERS_PER_DEGREE * along <= allowed:
        return None
    return SPEED if meters(point, other) > allowed else None


def meters(a: Point, b: Point) -> float:
    """The great-circle distance (haversine): plenty for meters to kilometers."""
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi, dlambda = phi2 - phi1, math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
