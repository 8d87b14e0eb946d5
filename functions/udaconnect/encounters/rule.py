"""The merge rule: contacts of one pair become encounters, maximal runs with no gap longer than the window.

Pure and order-free: the runs are the connected pieces of the contacts' time spans when spans closer than the
window join, so merging contacts in any order, any number of times, gives the same runs. The detector applies it
incrementally, the rebuild and the tests in one go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Contact:
    """Fixes of two persons within the distance and the window: their time span and midpoint. `counted` says
    whether this detection counts it (each contact is counted once, by the second of its fixes to be seen)."""

    person_a: int
    person_b: int
    lo: datetime
    hi: datetime
    longitude: float
    latitude: float
    counted: bool = True

    @property
    def pair(self) -> tuple[int, int]:
        return (self.person_a, self.person_b) if self.person_a < self.person_b else (self.person_b, self.person_a)


@dataclass(frozen=True)
class Run:
    first_seen: datetime
    last_seen: datetime
    contacts: int
    #: The mean of the counted contacts' midpoints (the first contact's while none is counted yet).
    longitude: float
    latitude: float

    def touches(self, other: Run, window: timedelta) -> bool:
        return other.first_seen - self.last_seen <= window and self.first_seen - other.last_seen <= window


def merged(runs: Iterable[Run]) -> Run:
    """One run covering `runs` (which touch): first and last seen, contacts added, centres weighted by them."""
    items = list(runs)
    counted = [r for r in items if r.contacts > 0]
    total = sum(r.contacts for r in counted)
    if total:
        longitude = sum(r.longitude * r.contacts for r in counted) / total
        latitude = sum(r.latitude * r.contacts for r in counted) / total
    else:
        longitude, latitude = items[0].longitude, items[0].latitude
    return Run(min(r.first_seen for r in items), max(r.last_seen for r in items), total, longitude, latitude)


def runs(contacts: Iterable[Contact], window: timedelta) -> list[Run]:
    """The runs of one pair's contacts, in time order."""
    out: list[Run] = []
    for c in sorted(contacts, key=lambda c: (c.lo, c.hi)):
        run = Run(c.lo, c.hi, int(c.counted), c.longitude, c.latitude)
        if out and out[-1].touches(run, window):
            out[-1] = merged([out[-1], run])
        else:
            out.append(run)
    return out


def by_pair(contacts: Iterable[Contact], window: timedelta) -> dict[tuple[int, int], list[Run]]:
    """Every pair's runs."""
    pairs: dict[tuple[int, int], list[Contact]] = {}
    for contact in contacts:
        pairs.setdefault(contact.pair, []).append(contact)
    return {pair: runs(found, window) for pair, found in pairs.items()}
