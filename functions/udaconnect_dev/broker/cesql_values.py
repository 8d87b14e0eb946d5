"""CESQL values: the implicit casts, comparisons, LIKE, arithmetic and built-in functions."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Value = str | int | bool
Node = Callable[[Mapping[str, str]], Value]


class EvalError(Exception):
    """An expression could not be evaluated (missing attribute, failed cast): the filter does not match."""


def to_int(v: Value) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    try:
        return int(v.strip())
    except ValueError:
        raise EvalError(f"cannot cast {v!r} to integer") from None


def to_bool(v: Value) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise EvalError(f"cannot cast {v!r} to boolean")


def to_str(v: Value) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def equal(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return to_bool(a) == to_bool(b)
    if isinstance(a, int) or isinstance(b, int):
        return to_int(a) == to_int(b)
    return a == b


def like(value: Value, pattern: str) -> bool:
    regex = "".join(
        ".*" if c == "%" else "." if c == "_" else re.escape(c[-1]) for c in re.findall(r"\\.|.", pattern, re.S)
    )
    return re.fullmatch(regex, to_str(value), re.S) is not None


COMPARE: dict[str, Callable[[Value, Value], bool]] = {
    "=": equal,
    "!=": lambda a, b: not equal(a, b),
    "<>": lambda a, b: not equal(a, b),
    "<": lambda a, b: to_int(a) < to_int(b),
    "<=": lambda a, b: to_int(a) <= to_int(b),
    ">": lambda a, b: to_int(a) > to_int(b),
    ">=": lambda a, b: to_int(a) >= to_int(b),
}
ARITH: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: int(a / b),
    "%": lambda a, b: a - b * int(a / b),
}


FUNCTIONS: dict[str, Callable[..., Value]] = {
    "LENGTH": lambda s: len(to_str(s)),
    "CONCAT": lambda *a: "".join(to_str(x) for x in a),
    "LOWER": lambda s: to_str(s).lower(),
    "UPPER": lambda s: to_str(s).upper(),
    "TRIM": lambda s: to_str(s).strip(),
    "ABS": lambda n: abs(to_int(n)),
}


def constant(value: Value) -> Node:
    return lambda attrs: value


def arith_node(fn: Callable[[int, int], int], left: Node, right: Node) -> Node:
    return lambda attrs: fn(to_int(left(attrs)), to_int(right(attrs)))


def call(fn: Callable[..., Value], args: list[Any]) -> Value:
    try:
        return fn(*args)
    except TypeError as exc:
        raise EvalError(str(exc)) from exc


def attribute(attrs: Mapping[str, str], name: str) -> Value:
    if name not in attrs:
        raise EvalError(f"missing attribute {name}")
    return attrs[name]


def unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])
