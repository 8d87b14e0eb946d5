"""The CESQL subset used by `cesql` filters."""

from __future__ import annotations

import pytest

from udaconnect_dev.broker.cesql import compile_cesql
from udaconnect_dev.broker.errors import FilterError

ATTRS = {
    "type": "io.udaconnect.location.reported.v1",
    "source": "/devices/phone-7",
    "partitionkey": "42",
    "id": "abc",
    "flag": "true",
}


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("type = 'io.udaconnect.location.reported.v1'", True),
        ('type = "io.udaconnect.location.reported.v1"', True),
        ("type <> 'io.udaconnect.location.reported.v1'", False),
        ("type != 'x'", True),
        ("partitionkey = 42", True),  # the string attribute is cast to integer
        ("partitionkey > 40 AND partitionkey <= 42", True),
        ("partitionkey < 10 OR id = 'abc'", True),
        ("partitionkey + 1 = 43 AND partitionkey % 5 = 2 AND -partitionkey = 0 - 42", True),
        ("TRUE XOR TRUE", False),
        ("flag = TRUE", True),
        ("NOT (type = 'x')", True),
        ("not type = 'x' and id = 'abc'", True),  # keywords are case-insensitive
        ("source LIKE '/devices/%'", True),
        ("source LIKE '/devices/phone-_'", True),
        ("source LIKE '/devices/phone-__'", False),
        ("source NOT LIKE '%-7'", False),
        (r"source LIKE '/devices/\%'", False),  # escaped %: literal
        ("EXISTS partitionkey AND NOT EXISTS subject", True),
        ("partitionkey IN (1, 2, 42)", True),
        ("id NOT IN ('abc', 'def')", False),
        ("UPPER(id) = 'ABC' AND LOWER('X') = 'x' AND LENGTH(id) = 3 AND CONCAT(id, '!') = 'abc!'", True),
        ("TRIM('  a ') = 'a' AND ABS(-3) = 3", True),
        # evaluation errors make the filter not match
        ("subject = 'a'", False),
        ("NOT (subject = 'a')", False),
        ("id > 3", False),
        ("partitionkey / 0 = 1", False),
    ],
)
def test_expressions(expression, expected):
    assert compile_cesql(expression)(ATTRS) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "type =",
        "type = 'a' AND",
        "(type = 'a'",
        "type LIKE 3",
        "SUBSTRING(type, 1) = 'i'",
        "type ~ 'a'",
        "Type = 'a'",
        "type NOT = 'a'",
        "'unterminated",
    ],
)
def test_invalid_expressions(expression):
    with pytest.raises(FilterError):
        compile_cesql(expression)
