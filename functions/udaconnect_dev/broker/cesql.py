"""A CloudEvents SQL (CESQL 1.0) subset for Trigger filters.

Supported: string/integer/boolean literals, attribute references, EXISTS, NOT/AND/OR/XOR, = != <> < <= > >=,
[NOT] LIKE with % and _, [NOT] IN (...), + - * / % and unary minus, implicit casts as the spec describes, and the
functions LENGTH, CONCAT, LOWER, UPPER, TRIM, ABS. Unsupported: other functions (SUBSTRING, LEFT, IS_INT, ...).
A missing attribute or a failed cast is an evaluation error, and an error makes the filter not match (as Knative).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from udaconnect_dev.broker.cesql_values import (
    ARITH,
    COMPARE,
    FUNCTIONS,
    EvalError,
    Node,
    arith_node,
    attribute,
    call,
    constant,
    equal,
    like,
    to_bool,
    to_int,
    unquote,
)
from udaconnect_dev.broker.errors import FilterError

_TOKEN = re.compile(
    r"\s*(?:(?P<int>\d+)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<op><>|!=|<=|>=|[=<>()+\-*/%,])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)


def compile_cesql(expression: str) -> Callable[[Mapping[str, str]], bool]:
    node = _Parser(expression).parse()

    def predicate(attrs: Mapping[str, str]) -> bool:
        try:
            return to_bool(node(attrs))
        except (EvalError, ZeroDivisionError):
            return False

    return predicate


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
            return lambda a: to_bool(left(a)) and to_bool(right(a))
        if op == "OR":
            return lambda a: to_bool(left(a)) or to_bool(right(a))
        return lambda a: to_bool(left(a)) != to_bool(right(a))

    def negation(self) -> Node:
        if self.take("NOT"):
            inner = self.negation()
            return lambda a: not to_bool(inner(a))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        negate = self.take("NOT")
        if self.take("LIKE"):
            kind, raw = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
            if kind != "str":
                raise FilterError("cesql: LIKE needs a string pattern")
            self.i += 1
            pattern = re.sub(r"\\(['\"])", r"\1", raw[1:-1])  # keep \% and \_ for like
            return lambda a: like(left(a), pattern) != negate
        if self.take("IN"):
            self.expect("(")
            items = [self.additive()]
            while self.take(","):
                items.append(self.additive())
            self.expect(")")
            return lambda a: any(equal(left(a), item(a)) for item in items) != negate
        if negate:
            raise FilterError("cesql: NOT must be followed by LIKE or IN here")
        if self.i < len(self.tokens) and self.tokens[self.i][1] in COMPARE:
            compare = COMPARE[self.tokens[self.i][1]]
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
            fn = ARITH[self.tokens[self.i][1]]
            self.i += 1
            right = operand()
            left = arith_node(fn, left, right)
        return left

    def unary(self) -> Node:
        if self.take("-"):
            inner = self.unary()
            return lambda a: -to_int(inner(a))
        return self.primary()

    def primary(self) -> Node:
        if self.i >= len(self.tokens):
            raise FilterError("cesql: unexpected end of expression")
        kind, raw = self.tokens[self.i]
        self.i += 1
        if kind == "int":
            return constant(int(raw))
        if kind == "str":
            return constant(unquote(raw))
        if raw == "(":
            node = self.binary(0)
            self.expect(")")
            return node
        if kind != "word":
            raise FilterError(f"cesql: unexpected {raw!r}")
        upper = raw.upper()
        if upper in ("TRUE", "FALSE"):
            return constant(upper == "TRUE")
        if upper == "EXISTS":
            name = self.identifier()
            return lambda a: name in a
        if self.peek("("):
            return self.call(upper)
        self.i -= 1
        name = self.identifier()
        return lambda a: attribute(a, name)

    def identifier(self) -> str:
        kind, raw = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if kind != "word" or not re.fullmatch(r"[a-z0-9]+", raw):
            raise FilterError(f"cesql: {raw!r} is not an attribute name")
        self.i += 1
        return raw

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS:
            raise FilterError(f"cesql: function {name} is not supported")
        self.expect("(")
        args: list[Node] = []
        if not self.take(")"):
            args.append(self.binary(0))
            while self.take(","):
                args.append(self.binary(0))
            self.expect(")")
        fn = FUNCTIONS[name]
        return lambda a: call(fn, [arg(a) for arg in args])
