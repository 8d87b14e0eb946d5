"""The local stack: every target as its own process, the gateway routing by the one routing table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest

from conftest import create_database
from udaconnect.ports import free_port
from udaconnect.routes import TARGETS, target_for
from udaconnect.seed import seed
from udaconnect.storage import database
from udaconnect.synthetic import DemoConference
from udaconnect_dev.localstack import LocalStack


def fetch(url: str, method: str = "GET", body: bytes | None = None, token: str | None = None) \
        -> tuple[int, Message, bytes]:
    """Status, headers (looked up case-insensitively, as HTTP names are) and body."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
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
    organizer = stack.token()
    status, headers, body = fetch(stack.api_url + "/api/persons", token=organizer)
    assert status == 200 and len(json.loads(body)) == 30
    status, _, body = fetch(stack.api_url + "/api/persons/3/connection?start_date=2020-07-06&end_date=2020-07-06",
                            token=stack.token("attendee", 3))
    assert status == 200 and all(c["person"]["id"] != 3 for c in json.loads(body))
    person = b'{"first_name":"A","last_name":"B","company_name":"C"}'
    status, _, _ = fetch(stack.api_url + "/api/persons", "POST", person, token=organizer)
    assert status == 201


def test_the_gateway_answers_unknown_paths_and_methods(stack: LocalStack) -> None:
    status, headers, body = fetch(stack.api_url + "/api/unknown")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    status, headers, _ = fetch(stack.api_url + "/api/persons/1", "PUT")
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
         "--days", "2", "--api-port", str(api), "--web-port", str(web)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    output = "".join(lines)
    assert f"http://127.0.0.1:{api}" in output, output
    organizer = re.search(r"as an organizer: http://127\.0\.0\.1:\d+/#token=(\S+)", output)
    attendee = re.search(r"as attendee (\d+): http://127\.0\.0\.1:\d+/#token=(\S+)", output)
    assert organizer and attendee, output
    assert "older than UDACONNECT_RETENTION_DAYS" not in output  # the demo's dates are the last few days
    assert fetch(f"http://127.0.0.1:{api}/api/persons")[0] == 401
    assert fetch(f"http://127.0.0.1:{api}/api/persons", token=organizer[1])[0] == 200
    assert fetch(f"http://127.0.0.1:{api}/api/persons", token=attendee[2])[0] == 403
    assert fetch(f"http://127.0.0.1:{api}/api/persons/{attendee[1]}", token=attendee[2])[0] == 200
    process.terminate()
    assert process.wait(30) == 0


def test_dev_refuses_ports_in_use(stack: LocalStack, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "udaconnect.cli", "--data-dir", str(tmp_path), "dev", "--api-port", str(stack.api_port),
         "--web-port", str(free_port())], capture_output=True, text=True, timeout=60,
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and f"port {stack.api_port} is in use" in done.stderr


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening in `pid` or its descendants, from /proc."""
    import ipaddress
    from pathlib import Path

    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pids, inodes = [pid], set()
    while pids:
        current = pids.pop()
        pids += children.get(current, [])
        for fd in Path(f"/proc/{current}/fd").glob("*"):
            try:
                link = fd.readlink().as_posix()
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = cols[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((str(ipaddress.ip_address(raw)), int(port, 16)))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kafka_the_broker_ingress_and_every_function_listen_on_loopback_only(stack: LocalStack) -> None:
    """No other local user (nor a neighbour on the network) reaches a process that checks nobody."""
    assert stack.kafka is not None and stack.kafka.process is not None
    processes = {name: p.popen.pid for name, p in stack.processes.items()} | {"kafka": stack.kafka.process.pid}
    assert {"broker", "gateway", "web", "persist", "ingest"} <= set(processes)
    for name, pid in processes.items():
        sockets = _listening(pid)
        assert sockets, f"{name} listens nowhere?"
        assert {address for address, _ in sockets} == {"127.0.0.1"}, (name, sockets)


def test_only_the_edge_follows_dev_host(tmp_path) -> None:
    """`udaconnect dev --host 0.0.0.0` exposes the gateway and the web client, never what sits behind them."""
    from udaconnect.settings import Settings
    from udaconnect_dev.broker.kafka_server import KafkaServer

    stack = LocalStack(Settings(data_dir=tmp_path), host="0.0.0.0")
    commands: dict[str, list[str]] = {}
    stack._popen = lambda name, port, command, env: commands.setdefault(name, command)  # type: ignore[method-assign]
    stack.kafka = KafkaServer(external="127.0.0.1:9")
    for target in ("persons", "ingest", "persist", "gateway", "web"):
        stack.spawn(target, 1, {})
    stack.spawn_broker(2)
    hosts = {name: command[command.index("--host") + 1] for name, command in commands.items()}
    assert hosts == {"persons": "127.0.0.1", "ingest": "127.0.0.1", "persist": "127.0.0.1", "broker": "127.0.0.1",
                     "gateway": "0.0.0.0", "web": "0.0.0.0"}
    assert stack.broker_url.startswith("http://127.0.0.1:")
