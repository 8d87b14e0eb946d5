"""Which of a stored point's two numbers is the longitude: the rule the legacy import applies to each row.

The original UdaConnect stored `GEOMETRY` points with SRID 0 and no agreed axis order: its seed wrote
(longitude, latitude), its API wrote (latitude, longitude). A point (x, y) therefore has two readings,
"as stored" (lon=x, lat=y) and "swapped" (lon=y, lat=x). The rule, in order:

1. A reading is *valid* when |latitude| <= 90 and |longitude| <= 180. When exactly one reading is valid it
   is the answer: a latitude cannot exceed 90 degrees, whatever the data set. Neither valid: the row is
   rejected. x == y: both readings are the same point.
2. Both valid (|x| <= 90 and |y| <= 90): the numbers alone cannot tell, because swapping is a symmetry
   only outside knowledge breaks. *Anchors* are places fixes certainly are: the rows decided by step 1, plus
   any venue the operator names. A reading is *near* the anchors when an anchor lies in the same or a
   neighbouring grid cell (CELL_DEGREES, about 28 km of latitude: the same city / venue). A conference
   happens in a few places, so when exactly one reading is near the anchors, that reading is chosen.
3. Otherwise (no anchor near either reading, or near both) the row is *ambiguous*: it is reported, never
   guessed; the caller decides (skip it, name the venue, or assume one order for the whole data set).

Signs alone are not used: "the negative number is the longitude" holds for the Americas north of the
equator (this seed) but is wrong for Europe, Asia or South America. Without a venue, step 2 only helps
where certain and uncertain fixes meet (|longitude| close to 90: Memphis, New Orleans, Bangladesh).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

#: Anchor grid cell size in degrees (~28 km of latitude); "near" = same or neighbouring cell.
CELL_DEGREES = 0.25


OUT_OF_RANGE = "coordinate out of range"
AMBIGUOUS = "ambiguous axis order"


class Order(Enum):
    AS_STORED = "lonlat"  # x is the longitude
    SWAPPED = "latlon"  # x is the latitude


@dataclass(frozen=True)
class Verdict:
    """The reading chosen for one stored point, or why none was."""

    order: Order | None
    #: why no reading was chosen: OUT_OF_RANGE or AMBIGUOUS ("" when one was)
    reason: str = ""

    @property
    def swapped(self) -> bool:
        return self.order is Order.SWAPPED

    def lon_lat(self, x: float, y: float) -> tuple[float, float]:
        if self.order is None:
            raise ValueError(f"{self.reason}: ({x}, {y})")
        return (y, x) if self.swapped else (x, y)


def _valid(lon: float, lat: float) -> bool:
    return math.isfinite(lon) and math.isfinite(lat) and abs(lat) <= 90 and abs(lon) <= 180


def by_range(x: float, y: float) -> Verdict:
    """Step 1: decide from the valid ranges alone (no order and no reason: both readings are valid)."""
    as_stored, swapped = _valid(x, y), _valid(y, x)
    if as_stored and (not swapped or x == y):
        return Verdict(Order.AS_STORED)
    if swapped and not as_stored:
        return Verdict(Order.SWAPPED)
    if not as_stored:
        return Verdict(None, OUT_OF_RANGE)
    return Verdict(None)


_COLUMNS = round(360 / CELL_DEGREES)


def _column(index: int) -> int:
    """Wrap a cell column around the antimeridian (180 and -180 degrees are one meridian)."""
    return (index + _COLUMNS // 2) % _COLUMNS - _COLUMNS // 2


def _cell(lon: float, lat: float) -> tuple[int, int]:
    return _column(math.floor(lon / CELL_DEGREES)), math.floor(lat / CELL_DEGREES)


class Anchors:
    """The grid cells holding fixes whose reading was certain (bounded memory: one entry per cell)."""

    def __init__(self, points: Iterable[tuple[float, float]] = ()) -> None:
        self._cells: set[tuple[int, int]] = set()
        for lon, lat in points:
            self.add(lon, lat)

    def add(self, lon: float, lat: float) -> None:
        self._cells.add(_cell(lon, lat))

    def observe(self, x: float, y: float) -> None:
        """Record a stored point as an anchor when step 1 decides it."""
        verdict = by_range(x, y)
        if verdict.order is not None:
            self.add(*verdict.lon_lat(x, y))

    def __len__(self) -> int:
        return len(self._cells)

    def near(self, lon: float, lat: float) -> bool:
        cx, cy = _cell(lon, lat)
        return any((_column(cx + dx), cy + dy) in self._cells for dx in (-1, 0, 1) for dy in (-1, 0, 1))


def decide(x: float, y: float, anchors: Anchors) -> Verdict:
    """The reading of stored point (x, y), by the rule in this module's docstring."""
    verdict = by_range(x, y)
    if verdict.order is not None or verdict.reason:
        return verdict
    near_stored, near_swapped = anchors.near(x, y), anchors.near(y, x)
    if near_stored and not near_swapped:
        return Verdict(Order.AS_STORED)
    if near_swapped and not near_stored:
        return Verdict(Order.SWAPPED)
    return Verdict(None, AMBIGUOUS)
