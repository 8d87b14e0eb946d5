"""PostgreSQL COPY's text format: the one encoder of a value, and of a row, that every COPY FROM STDIN writes."""

from __future__ import annotations

from datetime import datetime

#: Inside a value, COPY's text format reads a backslash, tab, newline or carriage return escaped (the last three
#: would end the field or the row); every other character, non-ASCII included, goes as it is.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
#: SQL NULL in COPY's text format.
NULL = "\\N"


def text(value: str) -> str:
    """`value` as one field; NUL is refused, as PostgreSQL refuses it in any text value (even escaped)."""
    if "\x00" in value:
        raise ValueError("PostgreSQL text cannot hold NUL (U+0000)")
    return value.translate(_ESCAPES)


def field(value: object) -> str:
    """Any value as one field: None as NULL, text escaped, a datetime in ISO 8601, a float exactly (repr)."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def line(*values: object) -> str:
    """One row: its fields tab-separated, newline-terminated."""
    return "\t".join(map(field, values)) + "\n"
