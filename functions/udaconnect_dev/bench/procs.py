"""Process figures: cold start (process start to first 2xx) and peak resident memory of a process tree."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from udaconnect.ports import free_port
from udaconnect_dev.localstack import MAIN, function_command

__all__ = ["MAIN", "cold_start", "cold_starts", "peak_rss_mb", "spawn", "stop", "tree"]
HELLO = '''import functions_framework


@functions_framework.http
def hello(request):
    return {"status": "ok"}
'''


def _popen(target: str, port: int, env: dict[str, str], source: Path = MAIN) -> subprocess.Popen[bytes]:
    return subprocess.Popen(function_command(target, port, source=source),
                            env={**os.environ, **env, "FUNCTION_TARGET": target},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _first_2xx(port: int, began: float, path: str = "/health", post: tuple[dict[str, str], bytes] | None = None,
               timeout: float = 60) -> float:
    """Seconds from `began` to the first 2xx on `path` (a GET, or with `post` = (headers, body) that POST)."""
    headers, body = post or ({}, None)
    while time.monotonic() - began < timeout:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, headers)
            with urllib.request.urlopen(request, timeout=5) as reply:
                if 200 <= reply.status < 300:
                    return time.monotonic() - began
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(f"port {port} did not answer {path} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def spawn(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`functions-framework --target target` on `port`, returned once its /health answers."""
    process = _popen(target, port, env)
    try:
        _first_2xx(port, time.monotonic())
    except BaseException:
        stop(process)
        raise
    return process


def cold_start(target: str, env: dict[str, str], source: Path = MAIN, path: str = "/health",
               post: tuple[dict[str, str], bytes] | None = None) -> float:
    """Seconds from spawning `functions-framework --target target` to its first 2xx on `path` (a GET, or with
    `post` = (headers, body) that POST: a real request, paying whatever the target loads on first use)."""
    port = free_port()
    began = time.monotonic()
    process = _popen(target, port, env, source)
    try:
        return _first_2xx(port, began, path, post)
    finally:
        stop(process)


def cold_starts(targets: list[str], env: dict[str, str], repeat: int = 5) -> dict[str, float]:
    """Median cold start per target, and of a functions-framework hello-world ("hello-world"), interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO)
        samples: dict[str, list[float]] = {t: [] for t in [*targets, "hello-world"]}
        for _ in range(repeat):  # interleaved, so drift on a shared machine hits every target alike
            for target in targets:
                samples[target].append(cold_start(target, env))
            samples["hello-world"].append(cold_start("hello", {}, hello, "/"))
    return {t: statistics.median(s) for t, s in samples.items()}


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn's master and its worker)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            out += tree(int(child))
    return out


def peak_rss_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) in the process tree: the process that serves requests."""
    peaks = []
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return max(peaks, default=0.0)
