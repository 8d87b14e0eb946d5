"""Trigger filter dialects, as predicates and end to end through the broker."""

from __future__ import annotations

import pytest
from tests.broker.conftest import broker_yaml, trigger_yaml, wait_until_judged

from udaconnect_dev.broker.errors import FilterError
from udaconnect_dev.broker.filters import compile_filter, compile_trigger
from udaconnect_dev.broker.loader import load_text
from udaconnect_dev.broker.model import Destination, TriggerSpec

LOCATION = {
    "specversion": "1.0",
    "id": "1",
    "type": "io.udaconnect.location.reported.v1",
    "source": "/devices/phone-7",
    "partitionkey": "7",
}


def _trigger(**kwargs) -> TriggerSpec:
    return TriggerSpec("t", "ns", "default", Destination(uri="http://x"), **kwargs)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"exact": {"type": "io.udaconnect.location.reported.v1"}}, True),
        ({"exact": {"type": "io.udaconnect.location.reported"}}, False),
        ({"exact": {"subject": "x"}}, False),
        ({"prefix": {"type": "io.udaconnect."}}, True),
        ({"prefix": {"source": "/persons/"}}, False),
        ({"suffix": {"type": ".v1"}}, True),
        ({"suffix": {"type": ".v2"}}, False),
        ({"all": [{"prefix": {"type": "io."}}, {"exact": {"partitionkey": "7"}}]}, True),
        ({"all": [{"prefix": {"type": "io."}}, {"exact": {"partitionkey": "8"}}]}, False),
        ({"any": [{"exact": {"partitionkey": "8"}}, {"suffix": {"source": "-7"}}]}, True),
        ({"any": [{"exact": {"partitionkey": "8"}}, {"suffix": {"source": "-8"}}]}, False),
        ({"not": {"exact": {"partitionkey": "8"}}}, True),
        ({"not": {"exact": {"partitionkey": "7"}}}, False),
    ],
)
def test_dialects(spec, expected):
    assert compile_filter(spec)(LOCATION) is expected


def test_filters_win_over_legacy_attributes_and_empty_means_match_all():
    assert compile_trigger(_trigger())(LOCATION)
    assert compile_trigger(_trigger(attributes={"type": "io.udaconnect.location.reported.v1", "source": ""}))(LOCATION)
    assert not compile_trigger(_trigger(attributes={"type": "other"}))(LOCATION)
    both = _trigger(attributes={"type": "other"}, filters=[{"prefix": {"type": "io."}}])
    assert compile_trigger(both)(LOCATION)
    several = _trigger(filters=[{"prefix": {"type": "io."}}, {"exact": {"partitionkey": "8"}}])
    assert not compile_trigger(several)(LOCATION)  # entries of `filters` are ANDed


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"exact": {"a": "1"}, "prefix": {"a": "1"}},
        {"regex": {"a": "1"}},
        {"exact": {"a": "1", "b": "2"}},
        {"prefix": {"type": ""}},
        {"all": {"exact": {"a": "1"}}},
    ],
)
def test_invalid_filters_are_rejected(spec):
    with pytest.raises(FilterError):
        compile_filter(spec)


def test_a_cesql_filter_is_refused_at_load_naming_the_trigger_and_what_is_supported(namespace):
    yaml_text = broker_yaml(namespace) + trigger_yaml(namespace, "sql", "  filters: [{cesql: \"type = 'io.a.v1'\"}]")
    with pytest.raises(FilterError) as refused:
        load_text(yaml_text)
    message = str(refused.value)
    assert f"Trigger {namespace}/sql" in message and "cesql" in message and "not supported" in message
    assert "exact, prefix, suffix, all, any, not" in message
    nested = _trigger(filters=[{"not": {"cesql": "true"}}])
    with pytest.raises(FilterError, match="Trigger ns/t: filter dialect 'cesql'"):
        compile_trigger(nested)


def test_each_dialect_routes_through_the_broker(plane, namespace, subscriber):
    cases = {
        "legacy": "  filter: {attributes: {type: io.a.v1}}",
        "exact": "  filters: [{exact: {type: io.a.v1}}]",
        "prefix": "  filters: [{prefix: {source: /devices/}}]",
        "suffix": "  filters: [{suffix: {type: .v2}}]",
        "all": "  filters: [{all: [{prefix: {type: io.}}, {exact: {partitionkey: '1'}}]}]",
        "any": "  filters: [{any: [{exact: {type: io.b.v2}}, {exact: {partitionkey: '3'}}]}]",
        "not": "  filters: [{not: {exact: {type: io.a.v1}}}]",
    }
    subs = {name: subscriber() for name in cases}
    yaml_text = broker_yaml(namespace) + "".join(trigger_yaml(namespace, n, s) for n, s in cases.items())
    dp = plane(yaml_text, {n: s.url for n, s in subs.items()})
    url = f"{dp.url}/{namespace}/default"
    # id, type, partitionkey, source
    events = [("e1", "io.a.v1", "1", "/devices/d"), ("e2", "io.b.v2", "2", "/other"), ("e3", "io.a.v1", "3", "/other")]
    import requests

    for event_id, type_, key, source in events:
        headers = {
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": source,
            "ce-type": type_,
            "ce-partitionkey": key,
        }
        assert requests.post(url, data=b"", headers=headers).status_code == 202
    expected = {
        "legacy": {"e1", "e3"},
        "exact": {"e1", "e3"},
        "prefix": {"e1"},
        "suffix": {"e2"},
        "all": {"e1"},
        "any": {"e2", "e3"},
        "not": {"e2"},
    }
    wait_until_judged(dp, len(events))  # every trigger is past every event: a wrong delivery has arrived by now
    assert {n: {r.headers["ce-id"] for r in s.received} for n, s in subs.items()} == expected
