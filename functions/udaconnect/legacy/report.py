"""What a legacy import did: counts, and every row it left out with the reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: Rows kept in detail; beyond this only the counts per reason grow (an import may skip millions).
MAX_DETAILS = 1000

MISSING_FIELD = "missing field"
TIME_OUT_OF_RANGE = "time out of range"
NOT_A_POINT = "not a point"
UNSUPPORTED_SRID = "unsupported SRID"
UNKNOWN_PERSON = "unknown person"
PERSON_ID_TAKEN = "person id taken by a different person in the target"


@dataclass(frozen=True)
class Skipped:
    table: str
    id: int
    reason: str
    detail: str = ""


@dataclass
class ImportReport:
    """Counts of one run. `*_added` are rows new in the target (0 on a repeated import)."""

    #: the event_source stamped on every imported location: legacy:<host>/<database>
    source: str
    persons_read: int = 0
    persons_added: int = 0
    locations_read: int = 0
    locations_added: int = 0
    #: locations read whose stored (x, y) was (latitude, longitude), so stored swapped
    swapped: int = 0
    #: ambiguous locations imported under the operator's explicit `assume` order
    assumed: int = 0
    #: locations whose original id was taken in the target: imported under a new id
    renumbered: int = 0
    skipped_counts: Counter[str] = field(default_factory=Counter)
    #: the first MAX_DETAILS skipped rows
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, table: str, id: int, reason: str, detail: str = "") -> None:
        self.skipped_counts[reason] += 1
        if len(self.skipped) < MAX_DETAILS:
            self.skipped.append(Skipped(table, id, reason, detail))

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped_counts.values())

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        lines = [
            f"source {self.source}",
            f"persons:   {self.persons_read} read, {self.persons_added} added",
            f"locations: {self.locations_read} read, {self.locations_added} added, {self.swapped} swapped "
            f"to (longitude, latitude), {self.assumed} by assumption, {self.renumbered} renumbered",
            f"skipped:   {self.skipped_total}",
        ]
        lines += [f"  {count} x {reason}" for reason, count in self.skipped_counts.most_common()]
        lines += [f"  {s.table} {s.id}: {s.reason} {s.detail}".rstrip() for s in self.skipped[:20]]
        if self.skipped_total > 20:
            lines.append(f"  ... {self.skipped_total - 20} more")
        return "\n".join(lines)
