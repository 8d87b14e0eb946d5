"""The local stack: PostGIS, migrations, and every function target as its own functions-framework process.

The same shape as the cluster: each target in its own process (as each Knative Service has its own pods),
the gateway in front of the API by the routing table, the web client on its own port.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage.embedded import free_port

log = logging.getLogger(__name__)
MAIN = PROJECT_ROOT / "functions" / "main.py"
#: What the local stack runs today, in start order; the gateway and web come last.
HTTP_TARGETS = ("persons", "connections")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the stack's process dies, however it dies (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Process:
    target: str
    port: int
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class LocalStack:
    settings: Settings
    api_port: int = 30001
    web_port: int = 30000
    log_dir: Path | None = None
    host: str = "127.0.0.1"
    processes: dict[str, Process] = field(default_factory=dict)
    database_url: str = ""

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def start_database(self) -> str:
        from udaconnect.storage import database

        self.database_url = database.database_url(self.settings)
        database.upgrade(self.settings)
        return self.database_url

    def start(self, targets: tuple[str, ...] = HTTP_TARGETS) -> LocalStack:
        if not self.database_url:
            self.start_database()
        env = {"DATABASE_URL": self.database_url}
        for target in targets:
            self.spawn(target, free_port(), env)
        upstreams = {f"UDACONNECT_UPSTREAM_{p.target.upper()}": p.url for p in self.processes.values()}
        self.spawn("gateway", self.api_port, upstreams)
        if (PROJECT_ROOT / "functions" / "udaconnect" / "web").exists():
            self.spawn("web", self.web_port, {"UDACONNECT_API_BASE_URL": self.api_url})
        for process in self.processes.values():
            self.wait_healthy(process)
        return self

    def spawn(self, target: str, port: int, env: dict[str, str]) -> Process:
        """Start `target` on `port` as its own functions-framework process."""
        out = subprocess.DEVNULL
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{target}.log", "ab")  # noqa: SIM115 - the child owns it
        environment = {**os.environ, **env, "FUNCTION_TARGET": target, "PORT": str(port),
                       "PYTHONUNBUFFERED": "1"}
        popen = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--source", str(MAIN), "--target", target,
             "--host", self.host, "--port", str(port)],
            env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        process = self.processes[target] = Process(target, port, popen)
        return process

    def wait_healthy(self, process: Process, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.target} exited with {process.popen.returncode} (see its log)")
            try:
                with urllib.request.urlopen(process.url + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{process.target} did not become healthy on port {process.port}")

    def stop_process(self, target: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(target, None)
        if process is None or process.popen.poll() is not None:
            return
        os.killpg(process.popen.pid, sig)
        try:
            process.popen.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()

    def stop(self) -> None:
        for target in reversed(list(self.processes)):
            self.stop_process(target)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
