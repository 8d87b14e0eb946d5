"""A CloudEvents SQL (CESQL 1.0) subset for Trigger filters.

Supported: string/integer/boolean literals, attribute references, EXISTS, NOT/AND/OR/XOR, = != <> < <= > >=,
[NOT] LIKE with % and _, [NOT] IN (...), + - * / % and unary minus, implicit casts as the spec describes, and the
functions LENGTH, CONCAT, LOWER, UPPER, TRIM, ABS. Unsupported: other functions (SUBSTRING, LEFT, IS_INT, ...).
A missing attribute or a failed cast is an evaluation error, and an error makes the filter not match (as Knative).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from udaconnect.broker.errors import FilterError

Value = str | int | bool
Node = Callable[[Mapping[str, str]], Value]
_TOKEN = re.compile(
    r"\s*(?:(?P<int>\d+)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<op><>|!=|<=|>=|[=<>()+\-*/%,])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "LENGTH": lambda s: len(_str(s)),
    "CONCAT": lambda *a: "".join(_str(x) for x in a),
    "LOWER": lambda s: _str(s).lower(),
    "UPPER": lambda s: _str(s).upper(),
    "TRIM": lambda s: _str(s).strip(),
    "ABS": lambda n: abs(_int(n)),
}


class _EvalError(Exception):
    pass


def compile_cesql(expression: str) -> Callable[[Mapping[str, str]], bool]:
    node = _Parser(expression).parse()

    def predicate(attrs: Mapping[str, str]) -> bool:
        try:
            return _bool(node(attrs))
        except (_EvalError, ZeroDivisionError):
            return False

    return predicate


def _int(v: Value) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    try:
        return int(v.strip())
    except ValueError:
        raise _EvalError(f"cannot cast {v!r} to integer") from None


def _bool(v: Value) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise _EvalError(f"cannot cast {v!r} to boolean")


def _str(v: Value) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return _bool(a) == _bool(b)
    if isinstance(a, int) or isinstance(b, int):
        return _int(a) == _int(b)
    return a == b


def _like(value: Value, pattern: str) -> bool:
    regex = "".join(
        ".*" if c == "%" else "." if c == "_" else re.escape(c[-1]) for c in re.findall(r"\\.|.", pattern, re.S)
    )
    return re.fullmatch(regex, _str(value), re.S) is not None


_COMPARE: dict[str, Callable[[Value, Value], bool]] = {
    "=": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<>": lambda a, b: not _equal(a, b),
    "<": lambda a, b: _int(a) < _int(b),
    "<=": lambda a, b: _int(a) <= _int(b),
    ">": lambda a, b: _int(a) > _int(b),
    ">=": lambda a, b: _int(a) >= _int(b),
}
_ARITH: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: int(a / b),
    "%": lambda a, b: a - b * int(a / b),
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.rstrip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise FilterError(f"cesql: unexpected input at {pos}: {text[pos : pos + 10]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.i = 0

    def parse(self) -> Node:
        node = self.binary(0)
        if self.i != len(self.tokens):
            raise FilterError(f"cesql: unexpected {self.tokens[self.i][1]!r}")
        return node

    def peek(self, word: str) -> bool:
        return self.i < len(self.tokens) and self.tokens[self.i][1].upper() == word

    def take(self, word: str) -> bool:
        if self.peek(word):
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.take(word):
            raise FilterError(f"cesql: expected {word}")

    _LEVELS = (("OR",), ("XOR",), ("AND",))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.negation()
        left = self.binary(level + 1)
        while any(self.peek(w) for w in self._LEVELS[level]):
            op = self.tokens[self.i][1].upper()
            self.i += 1
            right = self.binary(level + 1)
            left = self._logic(op, left, right)
        return left

    @staticmethod
    def _logic(op: str, left: Node, right: Node) -> Node:
        if op == "AND":
            return lambda a: _bool(left(a)) and _bool(right(a))
        if op == "OR":
            return lambda a: _bool(left(a)) or _bool(right(a))
        return lambda a: _bool(left(a)) != _bool(right(a))

    def negation(self) -> Node:
        if self.take("NOT"):
            inner = self.negation()
            return lambda a: not _bool(inner(a))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        negate = self.take("NOT")
        if self.take("LIKE"):
            kind, raw = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
            if kind != "str":
                raise FilterError("cesql: LIKE needs a string pattern")
            self.i += 1
            pattern = re.sub(r"\\(['\"])", r"\1", raw[1:-1])  # keep \% and \_ for _like
            return lambda a: _like(left(a), pattern) != negate
        if self.take("IN"):
            self.expect("(")
            items = [self.additive()]
            while self.take(","):
                items.append(self.additive())
            self.expect(")")
            return lambda a: any(_equal(left(a), item(a)) for item in items) != negate
        if negate:
            raise FilterError("cesql: NOT must be followed by LIKE or IN here")
        if self.i < len(self.tokens) and self.tokens[self.i][1] in _COMPARE:
            compare = _COMPARE[self.tokens[self.i][1]]
            self.i += 1
            right = self.additive()
            return lambda a: compare(left(a), right(a))
        return left

    def additive(self) -> Node:
        return self._arith(self.multiplicative, "+-")

    def multiplicative(self) -> Node:
        return self._arith(self.unary, "*/%")

    def _arith(self, operand: Callable[[], Node], ops: str) -> Node:
        left = operand()
        while self.i < len(self.tokens) and self.tokens[self.i] in [("op", o) for o in ops]:
            fn = _ARITH[self.tokens[self.i][1]]
            self.i += 1
            right = operand()
            left = _arith_node(fn, left, right)
        return left

    def unary(self) -> Node:
        if self.take("-"):
            inner = self.unary()
            return lambda a: -_int(inner(a))
        return self.primary()

    def primary(self) -> Node:
        if self.i >= len(self.tokens):
            raise FilterError("cesql: unexpected end of expression")
        kind, raw = self.tokens[self.i]
        self.i += 1
        if kind == "int":
            return _constant(int(raw))
        if kind == "str":
            return _constant(_unquote(raw))
        if raw == "(":
            node = self.binary(0)
            self.expect(")")
            return node
        if kind != "word":
            raise FilterError(f"cesql: unexpected {raw!r}")
        upper = raw.upper()
        if upper in ("TRUE", "FALSE"):
            return _constant(upper == "TRUE")
        if upper == "EXISTS":
            name = self.identifier()
            return lambda a: name in a
        if self.peek("("):
            return self.call(upper)
        self.i -= 1
        name = self.identifier()
        return lambda a: _attribute(a, name)

    def identifier(self) -> str:
        kind, raw = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if kind != "word" or not re.fullmatch(r"[a-z0-9]+", raw):
            raise FilterError(f"cesql: {raw!r} is not an attribute name")
        self.i += 1
        return raw

    def call(self, name: str) -> Node:
        if name not in _FUNCTIONS:
            raise FilterError(f"cesql: function {name} is not supported")
        self.expect("(")
        args: list[Node] = []
        if not self.take(")"):
            args.append(self.binary(0))
            while self.take(","):
                args.append(self.binary(0))
            self.expect(")")
        fn = _FUNCTIONS[name]
        return lambda a: _call(fn, [arg(a) for arg in args])


def _constant(value: Value) -> Node:
    return lambda attrs: value


def _arith_node(fn: Callable[[int, int], int], left: Node, right: Node) -> Node:
    return lambda attrs: fn(_int(left(attrs)), _int(right(attrs)))


def _call(fn: Callable[..., Value], args: list[Any]) -> Value:
    try:
        return fn(*args)
    except TypeError as exc:
        raise _EvalError(str(exc)) from exc


def _attribute(attrs: Mapping[str, str], name: str) -> Value:
    if name not in attrs:
        raise _EvalError(f"missing attribute {name}")
    return attrs[name]


def _unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])
