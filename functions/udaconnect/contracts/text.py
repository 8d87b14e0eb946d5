"""The wire's text rules as JSON Schema patterns, importable without pydantic: the OpenAPI document states them;
the edges check with the same expressions where their own parsers read more (the legacy body, a query's day or
instant, a fix's time), and tests/test_wire_rules.py holds the others equal to the checks they state.

Each is matched as JSON Schema tools in Python match a `pattern` (re.search): `$` also matches before a final
newline, which the code takes as well (trimmed, read by float(), or dropped).
"""

from __future__ import annotations

import re

from udaconnect.contracts.names import MAX_OFFSET_MINUTES

__all__ = ["CONTROL", "DAY", "INSTANT", "JSON_MEDIA_TYPE", "LATITUDE_TEXT", "LEGACY_TIME", "LONGITUDE_TEXT",
           "PERSON_ID_TEXT", "RECORDED_AT", "RFC3339", "TRIMMED", "YEAR", "matches", "printable"]

#: What pydantic's strip_whitespace trims (Rust's char::is_whitespace: Unicode White_Space), as a class body.
TRIMMED = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
#: The control characters no text may hold once trimmed (PostgreSQL cannot store NUL; none is part of a name).
CONTROL = "\\x00-\\x1f\\x7f"


def printable(max_length: int, min_length: int = 0) -> str:
    """Text that, once trimmed (TRIMMED, either end), is min_length (0 or 1) to max_length characters and holds
    no control character."""
    assert min_length in (0, 1) and max_length >= 2
    kept = f"[^{TRIMMED}{CONTROL}](?:[^{CONTROL}]{{0,{max_length - 2}}}[^{TRIMMED}{CONTROL}])?"
    return f"^[{TRIMMED}]*{kept if min_length else f'(?:{kept})?'}[{TRIMMED}]*$"


#: A year FIRST_YEAR..LAST_YEAR (1900..9998, spelled out: tests/test_wire_rules.py checks it against the names).
YEAR = "(?:19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"


#: An RFC 3339 date-time's shape (the calendar aside): seconds 00-59, an offset, T and Z in either case.
RFC3339 = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"


def _offset_hour(max_minutes: int) -> str:
    """Offset hours up to max_minutes // 60 (10 to 23; minutes up to 59 follow)."""
    hours = max_minutes // 60
    assert max_minutes % 60 == 59 and 10 <= hours <= 23
    return "[01][0-9]|2[0-3]" if hours == 23 else f"0[0-9]|1[0-{hours - 10}]"


#: A fix's recorded_at as the contract takes it: RFC3339 (the format checks the calendar) in YEAR's years, an
#: offset within MAX_OFFSET_MINUTES, T and Z in either case (pydantic reads both).
RECORDED_AT = (f"^{YEAR}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-5][0-9](?:\\.[0-9]+)?"
               f"(?:[Zz]|[+-](?:{_offset_hour(MAX_OFFSET_MINUTES)}):[0-5][0-9])$")


#: Leap years among YEAR's (every fourth but the centuries not divisible by 400).
_LEAP = ("(?:19(?:0[48]|[2468][048]|[13579][26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])"
         "|(?:[2468][048]|[3579][26])00)")
_MONTH_DAY = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              "|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_DATE = f"(?:{YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)"
#: The original POST /api/locations' creation_time: a calendar date and time of day in YEAR's years, to the second
#: or finer, UTC when it has no offset (no `format` can say that: date-time requires an offset).
LEGACY_TIME = (f"^{_DATE}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
               f"(?:Z|[+-](?:{_offset_hour(MAX_OFFSET_MINUTES)}):[0-5][0-9])?$")
#: A query's day (a whole day of the venue) or instant, as Python's fromisoformat reads them once str.strip has
#: trimmed them (`\\s`, in Python's re, is what it trims): the date in YEAR's years; the instant with T, seconds
#: and an offset (Z or up to ±23:59), in upper case.
DAY = f"^\\s*{_DATE}\\s*$"
INSTANT = (f"^\\s*{_DATE}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
           f"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\\s*$")
#: A numeric string as the original POST /api/locations sent coordinates and ids: plain decimals, in range.
LATITUDE_TEXT = "^[+-]?(?:90(?:\\.0*)?|[1-8]?[0-9](?:\\.[0-9]*)?|\\.[0-9]+)$"
LONGITUDE_TEXT = "^[+-]?(?:180(?:\\.0*)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\\.[0-9]*)?|\\.[0-9]+)$"
#: 1 to 2147483647 (PostgreSQL integer) without sign or leading zero.
PERSON_ID_TEXT = ("^(?:[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
                  "|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])$")
#: A CloudEvent's datacontenttype the data is read as: JSON (application/json or text/json, any case, parameters
#: after a `;`), as udaconnect.ingest.envelope.media_type reads it (surrounding whitespace, str.strip's, trimmed).
JSON_MEDIA_TYPE = ("^\\s*(?:[Aa][Pp][Pp][Ll][Ii][Cc][Aa][Tt][Ii][Oo][Nn]|[Tt][Ee][Xx][Tt])/[Jj][Ss][Oo][Nn]\\s*"
                   "(?:;[\\s\\S]*)?$")

_compiled: dict[str, re.Pattern[str]] = {}


def matches(pattern: str, text: str) -> bool:
    """Whether `text` matches `pattern` as a JSON Schema validator in Python decides (re.search)."""
    compiled = _compiled.get(pattern)
    if compiled is None:
        compiled = _compiled[pattern] = re.compile(pattern)
    return compiled.search(text) is not None
