"""The HTTP API function targets: thin glue from requests to the queries."""

from __future__ import annotations

import re

from udaconnect.errors import NotFound

__all__ = ["path_id"]

_MAX_ID = 2**63 - 1
_ID = re.compile(r"^[0-9]{1,19}$")


def path_id(value: str, what: str, maximum: int = _MAX_ID) -> int:
    """An id taken from a URL path; anything that cannot be an id names nothing (404), never a 500."""
    if not _ID.match(value) or not 0 < int(value) <= maximum:
        raise NotFound(f"{what} {value!r} does not exist")
    return int(value)
