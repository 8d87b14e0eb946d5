"""The local stack: every target as its own process, the gateway routing by the one routing table."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest

from conftest import create_database
from udaconnect.localstack import LocalStack
from udaconnect.ports import free_port
from udaconnect.routes import TARGETS, target_for
from udaconnect.seed import seed
from udaconnect.storage import database
from udaconnect.synthetic import DemoConference


def fetch(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (looked up case-insensitively, as HTTP names are) and body."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def stack(postgres_server: str, tmp_path_factory) -> Iterator[LocalStack]:
    settings = create_database(postgres_server, "udaconnect_stack")
    seed(database.engine(settings), DemoConference(persons=30, days=1), show_progress=False)
    with LocalStack(settings, api_port=free_port(), web_port=free_port(),
                    log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


def test_the_gateway_routes_each_path_to_its_function(stack: LocalStack) -> None:
    status, headers, body = fetch(stack.api_url + "/api/persons")
    assert status == 200 and len(json.loads(body)) == 30
    status, _, body = fetch(stack.api_url + "/api/persons/3/connection?start_date=2020-07-06&end_date=2020-07-06")
    assert status == 200 and all(c["person"]["id"] != 3 for c in json.loads(body))
    person = b'{"first_name":"A","last_name":"B","company_name":"C"}'
    status, _, _ = fetch(stack.api_url + "/api/persons", "POST", person)
    assert status == 201


def test_the_gateway_answers_unknown_paths_and_methods(stack: LocalStack) -> None:
    status, headers, body = fetch(stack.api_url + "/api/unknown")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    status, headers, _ = fetch(stack.api_url + "/api/persons/1", "DELETE")
    assert status == 405 and "GET" in headers["Allow"]


def test_each_function_runs_in_its_own_process(stack: LocalStack) -> None:
    pids = {p.popen.pid for p in stack.processes.values()}
    assert len(pids) == len(stack.processes) >= 3
    for process in stack.processes.values():
        assert fetch(process.url + "/health")[0] == 200


def test_routing_table_names_only_real_targets() -> None:
    from tests.deploy.test_crosscheck import main_targets

    from udaconnect.routes import ROUTES

    defined = main_targets()
    assert set(TARGETS) == defined
    assert {route.target for route in ROUTES} <= defined
    assert target_for("GET", "/api/persons/1/connection") == "connections"
    assert target_for("GET", "/api/persons/1") == "persons"
    assert target_for("POST", "/api/locations") == "ingest"


def test_dev_command_prints_where_to_open_it(postgres_server: str, tmp_path) -> None:
    """`udaconnect dev` starts, prints the URLs, and stops cleanly on SIGTERM."""
    settings = create_database(postgres_server, "udaconnect_dev")
    env = {"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    api, web = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "udaconnect.cli", "--data-dir", str(tmp_path), "dev", "--demo", "--persons", "10",
         "--days", "1", "--api-port", str(api), "--web-port", str(web)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    output = "".join(lines)
    assert f"http://127.0.0.1:{api}" in output, output
    assert fetch(f"http://127.0.0.1:{api}/api/persons")[0] == 200
    process.terminate()
    assert process.wait(30) == 0


def test_dev_refuses_ports_in_use(stack: LocalStack, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "udaconnect.cli", "--data-dir", str(tmp_path), "dev", "--api-port", str(stack.api_port),
         "--web-port", str(free_port())], capture_output=True, text=True, timeout=60,
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and f"port {stack.api_port} is in use" in done.stderr
