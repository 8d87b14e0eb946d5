"""`python -m udaconnect_dev.broker`: the process the local stack starts, and its clean shutdown."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.broker.conftest import post_event

ROOT = Path(__file__).resolve().parents[2]


def test_runner_routes_the_real_eventing_objects_and_stops_on_sigterm(kafka, subscriber):
    persist = subscriber()
    env = {**os.environ, "UDACONNECT_UPSTREAM_PERSIST": persist.url}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "udaconnect_dev.broker",
            "--eventing-dir",
            str(ROOT / "eventing"),
            "--port",
            "0",
            "--bootstrap",
            kafka.bootstrap_servers,
            "--log-level",
            "WARNING",
            "--session-timeout-ms",
            "2000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"ingress (http://\S+)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None and process.stderr else "")
        url = match.group(1) + "/udaconnect/default"
        assert post_event(url, "loc-1", type_="io.udaconnect.location.reported.v1", key="1") == 202
        assert post_event(url, "other-1", type_="io.udaconnect.person.created.v1") == 202
        [got] = persist.wait_for(1)
        assert got.headers["ce-id"] == "loc-1" and got.headers["ce-partitionkey"] == "1"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_runner_without_kafka_starts_and_stops_its_own_tansu(subscriber):
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["UDACONNECT_UPSTREAM_PERSIST"] = subscriber().url
    process = subprocess.Popen(
        [sys.executable, "-m", "udaconnect_dev.broker", "--eventing-dir", str(ROOT / "eventing"), "--port", "0"]
        + ["--session-timeout-ms", "2000", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"kafka 127\.0\.0\.1:(\d+)", line)
        assert match, line
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=1):
            pass
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=1).close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
