"""Where the CPU goes: seconds of CPU (user + system) each process of the local stack spends during a phase."""

from __future__ import annotations

import os
from pathlib import Path

from udaconnect_dev.bench import procs
from udaconnect_dev.localstack import LocalStack

_TICK = os.sysconf("SC_CLK_TCK")


def _seconds(pid: int) -> float:
    """CPU seconds of `pid` and its descendants (gunicorn's worker; PostgreSQL's backends); of this process
    alone (the load generator started the stack: its descendants are counted under their own names)."""
    total = 0.0
    for member in [pid] if pid == os.getpid() else procs.tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


def pids(stack: LocalStack, postgres_data: Path) -> dict[str, int]:
    found = {name: process.popen.pid for name, process in stack.processes.items()}
    if stack.kafka is not None and stack.kafka.process is not None:
        found["kafka (tansu)"] = stack.kafka.process.pid
    postmaster = postgres_data / "postmaster.pid"
    if postmaster.exists():
        found["postgresql"] = int(postmaster.read_text().split()[0])
    found["load generator + watcher"] = os.getpid()
    return found


def snapshot(processes: dict[str, int]) -> dict[str, float]:
    return {name: _seconds(pid) for name, pid in processes.items()}


def per_event_us(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
    """Microseconds of CPU per event and process (the idle ones left out), and their sum."""
    spent = {name: (after[name] - before[name]) / events * 1e6 for name in before if name in after}
    spent = {name: round(us, 1) for name, us in sorted(spent.items(), key=lambda kv: -kv[1]) if us >= 0.5}
    return {**spent, "total": round(sum(spent.values()), 1)}
