"""Trigger filters: legacy `filter.attributes` and the `filters` dialects exact, prefix, suffix, all, any and not,
compiled into predicates over an event's attributes. Knative's `cesql` dialect is refused at load time: no Trigger in
eventing/ uses it, and a parser carried for nothing is a parser to keep."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from udaconnect_dev.broker.errors import FilterError
from udaconnect_dev.broker.model import TriggerSpec

Predicate = Callable[[Mapping[str, str]], bool]
DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not")
#: Dialects Knative knows that the local broker refuses (with a message that says so, not "unknown").
REFUSED = {"cesql": "CESQL expressions are not supported by the local broker"}


def compile_trigger(trigger: TriggerSpec) -> Predicate:
    """`filters` wins over `filter.attributes` when both are set (as in Knative). FilterError names the Trigger."""
    if trigger.filters:
        try:
            return _all([compile_filter(f) for f in trigger.filters])
        except FilterError as exc:
            raise FilterError(f"Trigger {trigger.namespace}/{trigger.name}: {exc}") from None
    wanted = dict(trigger.attributes)
    # In the legacy filter an empty value means "any value".
    return lambda attrs: all(v == "" or attrs.get(k) == v for k, v in wanted.items())


def compile_filter(spec: Any) -> Predicate:
    supported = ", ".join(DIALECTS)
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in REFUSED:
        dialect = next(iter(spec))
        raise FilterError(f"filter dialect {dialect!r}: {REFUSED[dialect]}; use one of {supported}")
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DIALECTS:
        raise FilterError(f"a filter needs exactly one of {supported}: {spec!r}")
    dialect, body = next(iter(spec.items()))
    if dialect in ("exact", "prefix", "suffix"):
        name, value = _single_pair(dialect, body)
        if dialect == "exact":
            return lambda attrs: attrs.get(name) == value
        if dialect == "prefix":
            return lambda attrs: attrs.get(name, None) is not None and attrs[name].startswith(value)
        return lambda attrs: attrs.get(name, None) is not None and attrs[name].endswith(value)
    if dialect in ("all", "any"):
        if not isinstance(body, list):
            raise FilterError(f"{dialect} needs a list of filters")
        parts = [compile_filter(f) for f in body]
        return _all(parts) if dialect == "all" else (lambda attrs: any(p(attrs) for p in parts))
    inner = compile_filter(body)  # not
    return lambda attrs: not inner(attrs)


def _all(parts: list[Predicate]) -> Predicate:
    return lambda attrs: all(p(attrs) for p in parts)


def _single_pair(dialect: str, body: Any) -> tuple[str, str]:
    # Knative's webhook accepts exactly one attribute per exact/prefix/suffix filter.
    if not isinstance(body, dict) or len(body) != 1:
        raise FilterError(f"{dialect} needs exactly one attribute: {body!r}")
    name, value = next(iter(body.items()))
    if not isinstance(value, str) or (dialect != "exact" and not value):
        raise FilterError(f"{dialect}.{name} needs a non-empty string value")
    return str(name), value
