"""The usual-shape check of location payloads never accepts what the contract (LocationReported, and
LocationsReported for a device's buffered fixes) would not, never changes a value, and everything else is judged
by the contract itself."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from udaconnect.contracts.events import LocationReported, LocationsReported
from udaconnect.contracts.locations import Fix, Fixes, InvalidPayload, parse, parse_fixes, usual, usual_fixes


def rfc3339(moment: datetime, fraction: int, zulu: bool) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}"[: fraction + 1] if fraction else "")
    offset = moment.utcoffset()
    if zulu and offset == timedelta(0):
        return text + "Z"
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
times = st.builds(rfc3339, st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                                        timezones=offsets), st.integers(0, 6), st.booleans())
# just past each bound too: 90 and 180 degrees, 100 km of accuracy, 0
edges = st.sampled_from([b * s + d for b in (0, 90, 180, 100_000) for s in (1, -1)
                         for d in (0, 1e-9, -1e-9, 1e-4, -1e-4, 1, -1)] + [math.nextafter(90, 91), -0.0])
numbers = st.one_of(st.floats(), st.integers(-400, 400), st.integers(), st.booleans(), st.none(), edges,
                    st.text("0123456789.-e", max_size=6), st.just(float("nan")), st.just(float("inf")))
values = {
    "person_id": st.one_of(st.integers(-3, 2**31 + 3), st.integers(), st.floats(), st.booleans(), st.none(),
                           st.sampled_from([-1, 0, 1, 2**31 - 1, 2**31, 2**63]), st.text("0123456789 ", max_size=4)),
    "latitude": numbers, "longitude": numbers, "accuracy": numbers,
    "recorded_at": st.one_of(times, times.map(lambda t: t.replace("T", " ")), times.map(lambda t: t[:-6]),
                             st.text(max_size=30), st.integers(-10**10, 10**10), st.none(),
                             st.just("2020-02-30T10:00:00Z"), st.just("2020-08-18T24:00:00Z")),
}
def within(bound: float, low: float | None = None) -> st.SearchStrategy:
    low = -bound if low is None else low
    return st.one_of(st.floats(low, bound), st.integers(int(low), int(bound)), st.sampled_from([low, bound, -0.0]))


valid = {"person_id": st.integers(1, 2**31 - 1) | st.sampled_from([1, 2**31 - 1]),
         "latitude": within(90), "longitude": within(180), "recorded_at": times}
usual_shape = st.fixed_dictionaries(valid, optional={"accuracy": within(100_000, 0) | st.none()})


@st.composite
def one_field_off(draw: st.DrawFn) -> dict:
    data = draw(usual_shape)
    name = draw(st.sampled_from([*values, "extra"]))
    near = {"latitude": edges, "longitude": edges, "accuracy": edges,
            "person_id": st.sampled_from([-1, 0, 1, 2**31 - 1, 2**31, True, 1.0])}
    data[name] = draw(near[name] if name in near and draw(st.booleans()) else values.get(name, st.integers()))
    return data


payloads = st.one_of(usual_shape, one_field_off(), st.fixed_dictionaries(values),
                     st.fixed_dictionaries({}, optional={**values, "extra": st.integers()}))


def contract(data: dict) -> LocationReported | None:
    try:
        return LocationReported.model_validate(data)
    except ValidationError:
        return None


def same(fix: Fix, model: LocationReported) -> bool:
    return (fix.person_id == model.person_id and type(fix.person_id) is int
            and fix.latitude == model.latitude and fix.longitude == model.longitude
            and math.copysign(1, fix.latitude) == math.copysign(1, model.latitude)
            and fix.recorded_at == model.recorded_at and fix.recorded_at.utcoffset() == model.recorded_at.utcoffset()
            and fix.accuracy == model.accuracy)


@settings(max_examples=3000, deadline=None)
@given(payloads)
def test_the_usual_shape_is_a_subset_of_the_contract_with_the_same_values(data: dict) -> None:
    fix = usual(data)
    if isinstance(fix, Fix):
        model = contract(data)
        assert model is not None, f"accepted what the contract refuses: {data}"
        assert same(fix, model), (fix, model)


@settings(max_examples=1500, deadline=None)
@given(payloads)
def test_parse_accepts_exactly_what_the_contract_accepts(data: dict) -> None:
    model = contract(data)
    try:
        fix = parse(data)
    except InvalidPayload as invalid:
        assert model is None and invalid.errors
    else:
        assert model is not None and same(fix, model)


def test_devices_usual_payloads_take_the_usual_path() -> None:
    data = {"person_id": 5, "latitude": 37.55, "longitude": -122.29, "recorded_at": "2020-08-18T10:37:06.5+02:00"}
    fix = usual(data)
    assert isinstance(fix, Fix) and fix.accuracy is None and fix.recorded_text == "2020-08-18T10:37:06.5+02:00"
    assert isinstance(usual({**data, "accuracy": 3}), Fix)


@pytest.mark.parametrize("data, field", [
    ({"person_id": 0, "latitude": 1, "longitude": 1, "recorded_at": "2020-08-18T10:37:06Z"}, "data.person_id"),
    ({"person_id": 1, "latitude": 91, "longitude": 1, "recorded_at": "2020-08-18T10:37:06Z"}, "data.latitude"),
    ({"person_id": 1, "latitude": 1, "longitude": 1, "recorded_at": "2020-08-18T10:37:06"}, "data.recorded_at"),
    ({"person_id": 1, "latitude": 1, "recorded_at": "2020-08-18T10:37:06Z"}, "data.longitude"),
    ({"person_id": 1, "latitude": 1, "longitude": 1, "recorded_at": "2020-08-18T10:37:06Z", "x": 1}, "data.x"),
])
def test_refusals_are_the_contracts_own_field_errors(data: dict, field: str) -> None:
    with pytest.raises(InvalidPayload) as refused:
        parse(data)
    assert field in {e.field for e in refused.value.errors}


def test_what_the_contract_reads_is_published_in_rfc3339() -> None:
    fix = parse({"person_id": 7.0, "latitude": 1.5, "longitude": 2, "recorded_at": "2020-08-18t10:37:06.5z"})
    assert (fix.person_id, fix.latitude, fix.recorded_at) == (7, 1.5, datetime(2020, 8, 18, 10, 37, 6, 500000,
                                                                                tzinfo=UTC))
    assert fix.recorded_text == "2020-08-18T10:37:06.500000Z"


@pytest.mark.parametrize("field, value", [("person_id", "7"), ("latitude", "1.5"), ("accuracy", "3"),
                                          ("recorded_at", 1597747026), ("recorded_at", "1597747026"),
                                          ("recorded_at", "2020-08-18 10:37:06Z"),
                                          ("recorded_at", "2020-08-18T10:37Z")])
def test_the_contract_takes_only_what_the_document_says(field: str, value: object) -> None:
    """Issue 23: pydantic's coercions (numeric strings, Unix times, other time forms) are not in the OpenAPI
    document, so a client relying on them would rely on an accident: each is refused."""
    with pytest.raises(InvalidPayload) as refused:
        parse({"person_id": 7, "latitude": 1.5, "longitude": 2, "recorded_at": "2020-08-18T10:37:06Z", field: value})
    assert f"data.{field}" in {e.field for e in refused.value.errors}


BASE = {"person_id": 5, "latitude": 1.0, "longitude": 2.0, "recorded_at": "2020-08-18T10:37:06Z", "accuracy": 3.0}
EDGES = [b * s + d for b in (0, 90, 180, 100_000, 2**31 - 1) for s in (1, -1)
         for d in (0, 1e-9, -1e-9, 1e-4, -1e-4, 1, -1)] + [math.nextafter(90, 91), True, False, 1.0, 2**31]


@pytest.mark.parametrize("field", ["person_id", "latitude", "longitude", "accuracy"])
def test_every_bound_is_the_contracts_exactly(field: str) -> None:
    for value in EDGES:
        data = {**BASE, field: value}
        fix, model = usual(data), contract(data)
        if isinstance(fix, Fix):
            assert model is not None and same(fix, model), data


# A device's buffered fixes (io.udaconnect.locations.reported.v1): the same promise for the multi-fix fast path.
def fix_of(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "person_id"}


def when(fix: dict) -> float:
    try:
        return datetime.fromisoformat(fix["recorded_at"]).timestamp()
    except (ValueError, TypeError, OverflowError):
        return 0.0


@st.composite
def multi_fix_reports(draw: st.DrawFn) -> object:
    """Mostly usual reports (fixes sorted by time), some with one fix off, out of order, or the wrong shape."""
    person = draw(valid["person_id"] | values["person_id"])
    fixes = [fix_of(f) for f in draw(st.lists(usual_shape, min_size=0, max_size=6))]
    if draw(st.booleans()):
        fixes.sort(key=when)
    if fixes and draw(st.booleans()):
        index = draw(st.integers(0, len(fixes) - 1))
        fixes[index] = fix_of(draw(one_field_off()))
    report: dict = {"person_id": person, "fixes": fixes}
    shape = draw(st.sampled_from(["as is", "as is", "extra key", "fixes not a list", "a fix not an object"]))
    if shape == "extra key":
        report["extra"] = 1
    elif shape == "fixes not a list":
        report["fixes"] = {"0": fixes[0]} if fixes else None
    elif shape == "a fix not an object" and fixes:
        report["fixes"][0] = [1, 2]
    return report


def contract_fixes(data: object) -> LocationsReported | None:
    try:
        return LocationsReported.model_validate(data)
    except ValidationError:
        return None


def same_fixes(fixes: Fixes, model: LocationsReported) -> bool:
    return (fixes.person_id == model.person_id and len(fixes.fixes) == len(model.fixes)
            and all(same(fix, LocationReported.model_validate({**f.model_dump(), "person_id": model.person_id}))
                    for fix, f in zip(fixes.fixes, model.fixes, strict=True)))


@settings(max_examples=1500, deadline=None)
@given(multi_fix_reports())
def test_the_usual_multi_fix_shape_is_a_subset_of_the_contract_with_the_same_values(data: object) -> None:
    fixes = usual_fixes(data)
    if isinstance(fixes, Fixes):
        model = contract_fixes(data)
        assert model is not None, f"accepted what the contract refuses: {data}"
        assert same_fixes(fixes, model)


@settings(max_examples=800, deadline=None)
@given(multi_fix_reports())
def test_parse_fixes_accepts_exactly_what_the_contract_accepts(data: object) -> None:
    model = contract_fixes(data)
    try:
        fixes = parse_fixes(data)
    except InvalidPayload as invalid:
        assert model is None and invalid.errors
    else:
        assert model is not None and same_fixes(fixes, model)


def test_a_bad_fix_is_named_by_its_index() -> None:
    fixes = [fix_of({**BASE, "recorded_at": f"2020-08-18T10:37:0{i}Z"}) for i in range(5)]
    assert isinstance(usual_fixes({"person_id": 5, "fixes": fixes}), Fixes)
    with pytest.raises(InvalidPayload) as refused:
        parse_fixes({"person_id": 5, "fixes": [*fixes[:3], {**fixes[3], "latitude": True}, fixes[4]]})
    assert [e.field for e in refused.value.errors] == ["data.fixes[3].latitude"]
    with pytest.raises(InvalidPayload) as refused:
        parse_fixes({"person_id": 5, "fixes": [*fixes[:2], fixes[4], *fixes[2:4]]})
    assert [e.field for e in refused.value.errors] == ["data.fixes[3].recorded_at"]
    with pytest.raises(InvalidPayload):
        parse_fixes({"person_id": 5, "fixes": fixes * 101})  # 505: more than the contract's 500
