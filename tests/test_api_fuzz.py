"""No input a client can send produces a 500: random query strings, paths and bodies against the API targets
in-process, then schemathesis, the CloudEvents SDK and curl-style bodies against the local stack's gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROBLEM = "application/problem+json"
FIELDS = ["start_date", "end_date", "distance", "window", "limit", "q", "offset", "x"]
EDGES = ["", "0", "-1", "1e309", "nan", "-inf", "99999999999999999999", "2147483648", "9223372036854775808",
         "2020-02-30", "0000-01-01", "0001-01-01", "9999-12-31", "2020-01-01T00:00:00+23:59",
         "0001-01-01T00:00:00+23:00", "2020-01-01T24:00:00Z", "\x00", "a\x00b", "%", "'--", "\\", "\u202e",
         "2020-01-01T00:00:00-99:00", "1" * 400]
NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(EDGES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
LENIENT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


#: At most this share of a run's answers may be 401 or 429: a fuzz run spent on the rate limiter or on a refused
#: token tests neither the parsing nor the queries.
MAX_REFUSED = 0.05


def assert_spent_on_the_api(answers: Counter[int]) -> None:
    """Print the answers by status; fail when more than MAX_REFUSED of them were 401 or 429."""
    print("answers by status:", dict(sorted(answers.items())))
    refused = answers[401] + answers[429]
    assert answers and refused <= MAX_REFUSED * answers.total(), f"{refused} of {answers.total()} refused: {answers}"


def check(answers: Counter[int], reply) -> None:  # type: ignore[no-untyped-def]
    answers[reply.status_code] += 1
    assert reply.status_code < 500, (reply.status_code, reply.data[:300])
    if reply.status_code >= 400:  # a path with a newline too (functions/main.py: Werkzeug routes it to us)
        assert reply.content_type == PROBLEM and reply.get_json()["detail"]


#: Rate limits off by their settings (0): every test in a process shares one limiter per rate, and the organizer's
#: token is the same in all of them, so the searches of earlier tests would leave the fuzzer 429s. That the limits
#: work is tested in tests/test_auth.py (searches) and tests/ingest/test_devices.py (fixes, enrolments).
NO_LIMITS = {"UDACONNECT_SEARCH_RATE": "0", "UDACONNECT_INGEST_RATE": "0", "UDACONNECT_ENROL_RATE": "0"}


@pytest.fixture
def clients(db, persons_client, connections_client, monkeypatch):  # type: ignore[no-untyped-def]
    """The persons and connections targets in-process, limits off, and the count of their answers by status
    (checked at the end of the test, over all its examples)."""
    from udaconnect import bootstrap

    for name, value in NO_LIMITS.items():
        monkeypatch.setenv(name, value)
    bootstrap.context.cache_clear()
    persons_client.post("/api/persons", json={"first_name": "A", "last_name": "B", "company_name": "C"})
    answers: Counter[int] = Counter()
    yield persons_client, connections_client, answers
    assert_spent_on_the_api(answers)


@pytest.mark.parametrize("field", FIELDS)
def test_every_edge_value_in_every_field(clients, field: str) -> None:
    persons, connections, answers = clients
    base = {"start_date": "2020-01-01", "end_date": "2020-01-02"}
    for value in EDGES:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {**base, field: value}.items())
        check(answers, persons.get(f"/api/persons?{quote(field)}={quote(value, safe='')}"))
        check(answers, connections.get(f"/api/persons/1/connection?{query}"))
        check(answers, connections.get(f"/api/persons/1/locations?{query}"))
        check(answers, persons.get(f"/api/persons/{quote(value, safe='')}"))
        check(answers, connections.get(f"/api/locations/{quote(value, safe='')}"))


@LENIENT
@given(params=st.dictionaries(st.sampled_from(FIELDS), NASTY, max_size=5), person=NASTY)
def test_query_strings(clients, params: dict[str, str], person: str) -> None:
    persons, connections, answers = clients
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
    pid = quote(person, safe="") or "1"
    check(answers, persons.get(f"/api/persons?{query}"))
    check(answers, persons.get(f"/api/persons/{pid}"))
    check(answers, connections.get(f"/api/persons/{pid}/connection?{query}"))
    check(answers, connections.get(f"/api/persons/1/connection?{query}"))
    check(answers, connections.get(f"/api/persons/1/locations?{query}"))
    check(answers, connections.get(f"/api/locations/{pid}"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
PERSONISH = st.fixed_dictionaries({}, optional={"first_name": JSON, "last_name": JSON, "company_name": JSON,
                                                "id": JSON, "extra": JSON})


@LENIENT
@given(body=st.one_of(JSON, PERSONISH), raw=st.binary(max_size=60),
       content_type=st.sampled_from(["application/json", "text/plain", "", "application/merge-patch+json"]))
def test_person_bodies(clients, body, raw: bytes, content_type: str) -> None:  # type: ignore[no-untyped-def]
    persons, _, answers = clients
    check(answers, persons.post("/api/persons", data=json.dumps(body), content_type="application/json"))
    check(answers, persons.post("/api/persons", data=raw, content_type=content_type))


# --- Against the local stack's gateway: schemathesis, the CloudEvents SDK and curl-style raw bodies ---------------

SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")
#: The rules no schema can state, applied to the cases generated as valid (see the module)
SCHEMATHESIS_HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
#: Bounded so the whole run stays under a minute on two cores; the seed makes every run the same.
FUZZ_EXAMPLES, FUZZ_SEED = 50, 20261201


@pytest.fixture(scope="module")
def stack(postgres_server: str, tmp_path_factory):  # type: ignore[no-untyped-def]
    from conftest import create_database
    from udaconnect.ports import free_port
    from udaconnect.seed import seed
    from udaconnect.storage import database
    from udaconnect.synthetic import DemoConference
    from udaconnect_dev.localstack import LocalStack

    settings = create_database(postgres_server, "udaconnect_fuzz")
    seed(database.engine(settings), DemoConference(persons=12, days=1), show_progress=False)
    with LocalStack(settings, api_port=free_port(), web_port=free_port(), environment=NO_LIMITS,
                    log_dir=tmp_path_factory.mktemp("fuzz-logs")) as running:
        yield running


@pytest.mark.slow
@pytest.mark.timeout(480)  # the stack and its seed (about 2 min on 2 cores) and the run (about 2.5 min)
def test_schemathesis_finds_no_500_no_schema_violation_and_no_undocumented_status(stack, tmp_path) -> None:
    """Every operation of the served OpenAPI document through the gateway: examples, coverage (positive and
    negative), fuzzing and stateful sequences (links inferred from Location headers and ids)."""
    # st itself, with ast.parse serialised across its workers (a CPython 3.11.7 race, see the launcher)
    command = [sys.executable, str(Path(__file__).with_name("schemathesis_serial_ast.py")),
               "--config-file", str(SCHEMATHESIS_CONFIG), "run", stack.api_url + "/api/openapi.json",
               "--url", stack.api_url, "--mode", "all",
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(FUZZ_EXAMPLES),
               "--seed", str(FUZZ_SEED), "-H", f"Authorization: Bearer {stack.token()}",
               "--workers", "2", "--request-timeout", "20", "--no-color",
               "--report", "junit,vcr", "--report-dir", str(tmp_path)]
    log = tmp_path / "schemathesis.log"
    with log.open("w") as out:
        try:
            returncode = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=240, cwd=tmp_path,
                                        env={**os.environ, "SCHEMATHESIS_HOOKS": str(SCHEMATHESIS_HOOKS)}
                                        ).returncode
        except subprocess.TimeoutExpired:
            returncode = -1
    output = log.read_text()
    print(next((line.strip() for line in output.splitlines() if re.search(r"\d+ generated", line)), ""))
    assert returncode == 0, output[-6000:]
    # issue 23: an operation that refuses most of what its schema generates has rules the document does not state
    assert "Schema validation mismatch" not in output, output[-6000:]
    assert_spent_on_the_api(_statuses(tmp_path))
    assert f"Tested: {len(_fuzzed_operations())}" in output and "Stateful" in output, output[-6000:]


def _statuses(report_dir: Path) -> Counter[int]:
    """How many of the run's answers had each status, from its VCR cassette (every request and answer; read by
    pattern: yaml.safe_load takes over a minute on its 7 MB)."""
    (cassette,) = report_dir.glob("vcr-*.yaml")
    text = cassette.read_text()
    statuses = Counter(int(code) for code in re.findall(r"\n  response:\n    status:\n      code: '(\d+)'", text))
    assert statuses.total() == len(re.findall(r"\n- id: ", text)), "an interaction without a status"
    return statuses


def _fuzzed_operations() -> set[str]:
    """Every operation of the document but those schemathesis.toml turns off."""
    import tomllib

    from udaconnect.openapi import document

    skipped = {entry["include-path"] for entry in tomllib.loads(SCHEMATHESIS_CONFIG.read_text()).get("operations", [])
               if entry.get("enabled") is False}
    return {f"{method} {path}" for path, item in document()["paths"].items() for method in item if path not in skipped}


def _post(url: str, body: bytes, headers: dict[str, str], token: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={**headers, "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_cloudevents_from_the_python_sdk_in_binary_and_structured_mode(stack) -> None:
    from cloudevents.conversion import to_binary, to_structured
    from cloudevents.http import CloudEvent

    fix = {"person_id": 1, "latitude": 37.55363, "longitude": -122.290883, "recorded_at": "2020-08-18T10:37:06Z"}
    for encode in (to_binary, to_structured):
        attributes = {"type": "io.udaconnect.location.reported.v1", "source": "/devices/sdk",
                      "datacontenttype": "application/json"}
        event = CloudEvent(attributes, fix)
        headers, body = encode(event)
        status, _, reply = _post(stack.api_url + "/api/events", body, headers, stack.token())
        assert status == 202 and json.loads(reply)["ids"] == [event["id"]], reply
        bad = CloudEvent(attributes, {**fix, "person_id": True})
        headers, body = encode(bad)
        status, content_type, reply = _post(stack.api_url + "/api/events", body, headers, stack.token())
        assert status == 400 and content_type == PROBLEM, reply


CURL_FORM = "application/x-www-form-urlencoded"  # what `curl -d` sends unless told otherwise
CURL_BODIES = [
    ("/api/persons", b'{"first_name":"A","last_name":"B","company_name":"C"}', CURL_FORM),
    ("/api/persons", b"first_name=A&last_name=B", CURL_FORM),
    ("/api/persons", b"", "application/json"),
    ("/api/persons", b'{"first_name":"A\\u0000","last_name":"B","company_name":"C"}', "application/json"),
    ("/api/events", b'{"person_id":1}', CURL_FORM),
    ("/api/events", b"[" * 5000, "application/cloudevents-batch+json"),
    ("/api/events", b'{"specversion":"1.0"}', "application/cloudevents+json"),
    ("/api/events", b"\xff\xfe\x00", "application/cloudevents+json"),
    ("/api/locations", b'{"person_id":"1","latitude":"37.5","longitude":"-122.2"}', CURL_FORM),
    ("/api/locations", b'{"person_id":"x","latitude":"north"}', "application/json"),
    ("/api/locations", b"null", "application/json"),
]


@pytest.mark.parametrize("path, body, content_type", CURL_BODIES)
def test_curl_style_raw_bodies_get_a_problem_never_a_500(stack, path: str, body: bytes, content_type: str) -> None:
    status, answered, reply = _post(stack.api_url + path, body, {"Content-Type": content_type,
                                                                 "User-Agent": "curl/8.5.0", "Accept": "*/*"},
                                     stack.token())
    assert 400 <= status < 500 and answered == PROBLEM and json.loads(reply)["detail"], (status, reply[:300])


def test_curl_style_good_bodies_are_accepted(stack) -> None:
    event = {"specversion": "1.0", "id": "curl-1", "source": "/devices/curl",
             "type": "io.udaconnect.location.reported.v1",
             "data": {"person_id": 2, "latitude": 37.5, "longitude": -122.2, "recorded_at": "2020-08-18T10:37:06Z"}}
    assert _post(stack.api_url + "/api/events", json.dumps(event).encode(),
                 {"Content-Type": "application/cloudevents+json"}, stack.token())[0] == 202
    legacy = b'{"person_id":"2","latitude":"37.5","longitude":"-122.2","creation_time":"2020-08-18T10:37:06"}'
    assert _post(stack.api_url + "/api/locations", legacy, {"Content-Type": "application/json"},
                 stack.token())[0] == 202
