"""The `udaconnect` command when what it needs is not running: one clear line, a non-zero exit, no traceback, no
hang, and no process left behind that it started."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from udaconnect.ports import free_port


def udaconnect(data_dir: Path, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "udaconnect.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**_env(), "DATABASE_URL": "", "KAFKA_BOOTSTRAP_SERVERS": ""})
    return done, time.monotonic() - began


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}


def processes_using(path: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-af", str(path)], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize("command, says", [
    (["status"], "no local stack running"),
    (["dead-letters", "list"], "no Kafka known"),
    (["dead-letters", "replay"], "no Kafka known"),
    (["send", "--count", "1"], "no local stack running"),
])
def test_a_command_whose_stack_is_not_running_says_so_in_one_line(tmp_path: Path, command: list[str],
                                                                  says: str) -> None:
    done, took = udaconnect(tmp_path, *command)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert took < 10


def test_a_kafka_that_does_not_answer_is_one_line_within_seconds(tmp_path: Path) -> None:
    done, took = udaconnect(tmp_path, "dead-letters", "list", "--bootstrap", f"127.0.0.1:{free_port()}")
    assert done.returncode == 2 and "does not answer" in done.stderr and "Traceback" not in done.stderr
    assert took < 15, took
    assert "INFO" not in done.stderr  # the Kafka client's chatter stays below WARNING unless --verbose


def test_a_stale_address_file_is_not_taken_for_a_running_stack(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text('{"kafka": "127.0.0.1:1", "broker": "http://127.0.0.1:1", '
                                         '"api": "http://127.0.0.1:1", "pid": 999999999}')
    done, _ = udaconnect(tmp_path, "status")
    assert done.returncode == 2 and "no local stack running" in done.stderr


@pytest.mark.parametrize("command", [["outbox", "list"], ["db", "url"]])
def test_a_command_stops_the_embedded_postgres_it_started(tmp_path: Path, command: list[str]) -> None:
    assert processes_using(tmp_path) == []
    done, _ = udaconnect(tmp_path, *command, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 2), done.stderr  # outbox list on a database never migrated: 2, said in one line
    assert processes_using(tmp_path) == [], "the command left the embedded PostgreSQL running"


def test_status_prints_aligned_columns() -> None:
    from udaconnect_dev.commands import table

    assert table(["TRIGGER", "READY", "LAG"], [["persist-location-reported", "ready", "1,204"],
                                                 ["encounters", "not ready: no subscriber", "?"]]) == (
        "TRIGGER                    READY                       LAG\n"
        "persist-location-reported  ready                     1,204\n"
        "encounters                 not ready: no subscriber      ?")
