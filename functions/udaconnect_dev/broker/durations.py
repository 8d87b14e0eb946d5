"""ISO-8601 durations (PnDTnHnMnS) as used by Knative's backoffDelay and timeout."""

from __future__ import annotations

import re

from udaconnect_dev.broker.errors import ConfigError

# Years and months have no fixed length, so Knative (and we) accept weeks, days and time parts only.
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as PT0.5S or P1DT2H."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"not an ISO-8601 duration: {text!r}")
    return sum(float(value) * _SECONDS[unit] for unit, value in match.groupdict().items() if value)
