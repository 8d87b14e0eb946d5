"""The local stack: PostGIS, migrations, Kafka, the local broker, and every function target as its own process.

The same shape as the cluster: each target in its own process (as each Knative Service has its own pods),
the gateway in front of the API by the routing table, the web client on its own port, and the broker data plane
(python -m udaconnect_dev.broker, driven by eventing/) delivering to the persist process as the Trigger says.
The cluster's promises hold here too: the edge (gateway, web) starts only once the whole flow is ready; a process
that dies is restarted, as Kubernetes restarts a pod (`supervise`); a stop first drains what was accepted.

The stack owns every process's lifetime: each runs in a process session of its own (Ctrl-C reaches only the
command that owns the stack) and the stop ends them in the order the drain needs: the accepting functions, the
drain (Kafka and the broker still up), the edge, the broker, the subscribers and the rest, Kafka last. Once a stop
has begun nothing is started again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from udaconnect.ports import free_port, ok
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.broker.kafka_server import KafkaServer
from udaconnect_dev.stopping import StopRequested, die_with_parent

log = logging.getLogger(__name__)
MAIN = PROJECT_ROOT / "functions" / "main.py"
#: What the local stack runs, in start order; the broker follows persist, the gateway and web come last.
HTTP_TARGETS = ("persons", "connections", "ingest", "persist", "encounters")
#: `udaconnect dev` also runs retention, which the broker's PingSource ticks every hour. Test stacks leave it out:
#: their fixtures were recorded years ago, and a tick at the top of the hour would delete them mid-test.
DEV_TARGETS = (*HTTP_TARGETS, "retention")
#: Targets that talk to the broker (they get KAFKA_BOOTSTRAP_SERVERS and K_SINK).
EVENT_TARGETS = frozenset({"persons", "ingest", "persist", "encounters"})
#: Targets that accept events from outside: stopped first, so a drain has an end.
ACCEPTING = ("ingest", "persons")
#: Seconds the processes get to end after the drain (the broker, the edge, the rest), then SIGKILL; then Kafka.
STOP_GRACE = 5.0
#: The edge: the only processes that may listen on another address than loopback (`udaconnect dev --host`).
#: Kafka, the broker ingress and every other function listen on 127.0.0.1 only: none of them checks who calls.
EDGE = frozenset({"gateway", "web"})
LOOPBACK = "127.0.0.1"


def function_command(target: str, port: int, host: str = "127.0.0.1", source: Path = MAIN) -> list[str]:
    """The command line serving `target` from `source` on host:port, as the image's CMD does."""
    return [sys.executable, "-m", "functions_framework", "--source", str(source), "--target", target,
            "--host", host, "--port", str(port)]


@dataclass
class Process:
    target: str
    port: int
    popen: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

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
    #: Settings for every function process beyond the stack's own (a test's UDACONNECT_SEARCH_RATE=0, say).
    environment: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    database_url: str = ""
    kafka: KafkaServer | None = None
    #: Where supervision and drain messages go (the dev command prints them).
    say: Callable[[str], None] = field(default=lambda line: log.warning("%s", line), repr=False)
    #: Polled while starting: True makes start() give up (StopRequested), e.g. a signal the command noted.
    stop_requested: Callable[[], bool] = field(default=lambda: False, repr=False)
    _stopped: dict[str, Process] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _supervisor: threading.Thread | None = field(default=None, repr=False)
    _stopped_all: threading.Event = field(default_factory=threading.Event, repr=False)

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

    def token(self, role: str = "organizer", person_id: int | None = None, device_id: str | None = None,
              ttl: float = 12 * 3600) -> str:
        """A bearer token this stack's functions accept (signed with its key)."""
        from datetime import timedelta

        from udaconnect.auth import issue, keys

        return issue(keys.with_key(self.settings), role, person_id=person_id, device_id=device_id,
                     ttl=timedelta(seconds=ttl), scope="revocations" if role == "service" else None)

    def ingest_credential(self) -> Path:
        """ingest's service token for the revocation feed, made at each start (mode 0600, 30 days)."""
        from datetime import timedelta

        from udaconnect.auth import issue, keys

        path = keys.local_directory(self.settings.data_dir) / keys.INGEST_CREDENTIAL
        token = issue(keys.with_key(self.settings), "service", scope="revocations", subject="service:ingest",
                      ttl=timedelta(days=30))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(token + "\n")
        return path

    @property
    def cors_origins(self) -> str:
        """The origins the gateway lets call the API: the configured ones, and this stack's web client's."""
        web = [f"http://{host}:{self.web_port}" for host in dict.fromkeys((self.host, LOOPBACK, "localhost"))]
        return ",".join(dict.fromkeys([*self.settings.cors_origins, *web]))

    @property
    def broker_url(self) -> str:
        """The broker ingress (what K_SINK holds in the cluster)."""
        process = self.processes.get("broker")
        port = process.port if process else 0
        return f"http://{LOOPBACK}:{port}/{self.settings.namespace}/{self.settings.broker}"

    def start_kafka(self) -> str:
        """Kafka: KAFKA_BOOTSTRAP_SERVERS when set, else a tansu broker in memory (events last as long as it)."""
        if self.kafka is None:
            log_path = self.log_dir / "kafka.log" if self.log_dir else None
            self._private_log_dir()
            self.kafka = KafkaServer(external=self.settings.kafka_bootstrap_servers, log_path=log_path).start()
        return self.kafka.bootstrap_servers

    def start(self, targets: tuple[str, ...] = HTTP_TARGETS, supervise: bool = False) -> LocalStack:
        """Start the flow, wait until all of it is ready, and only then the edge: a report the gateway accepts
        from its first answer on reaches a Trigger whose start offsets are committed and a persist that answers."""
        if not self.database_url:
            self.start_database()
        from udaconnect.auth import keys

        env = {"DATABASE_URL": self.database_url, **keys.environment(self.settings)}
        events = bool(EVENT_TARGETS & set(targets))
        if events:
            broker_port = free_port()
            env.update(KAFKA_BOOTSTRAP_SERVERS=self.start_kafka(), UDACONNECT_PUBLISHER=self.settings.publisher,
                       K_SINK=f"http://{LOOPBACK}:{broker_port}/{self.settings.namespace}/{self.settings.broker}")
        ports = {target: free_port() for target in targets}
        if "persons" in ports:  # ingest refreshes its list of revoked devices from persons
            env["UDACONNECT_UPSTREAM_PERSONS"] = f"http://{LOOPBACK}:{ports['persons']}"
        # ingest alone: its service credential for the revocation feed, made by the issuer (this stack)
        credential = {"UDACONNECT_REVOCATIONS_TOKEN_FILE": str(self.ingest_credential()) if "ingest" in ports else ""}
        for target in targets:
            # only the issuer (persons: device enrolment) holds the signing key; every other function verifies
            # ... and only ingest and persist the delivery key (ingest proves each report, persist checks)
            self.spawn(target, ports[target], {**env, **keys.environment(
                self.settings, signer=target == "persons", delivery=target in ("ingest", "persist")),
                "UDACONNECT_REVOCATIONS_TOKEN_FILE": credential["UDACONNECT_REVOCATIONS_TOKEN_FILE"]
                if target == "ingest" else ""})
        if events:
            self.spawn_broker(broker_port)  # healthy = topics made, initial offsets committed, groups joined
        for process in list(self.processes.values()):
            self.wait_healthy(process, timeout=90 if process.target == "broker" else 60)
        upstreams = {f"UDACONNECT_UPSTREAM_{p.target.upper()}": p.url for p in self.processes.values()
                     if p.target in targets} | keys.environment(self.settings)
        edge = [self.spawn("gateway", self.api_port, {**upstreams, "UDACONNECT_CORS_ORIGINS": self.cors_origins})]
        if (PROJECT_ROOT / "functions" / "udaconnect" / "web").exists():
            edge.append(self.spawn("web", self.web_port, {"UDACONNECT_API_BASE_URL": self.api_url,
                                                          **keys.environment(self.settings)}))
        for process in edge:
            self.wait_healthy(process)
        if events:
            self._write_addresses()
        if supervise:
            self.supervise()
        return self

    def _write_addresses(self) -> None:
        """For the CLI (`udaconnect status`, `dead-letters`, `send`) run beside this stack; removed at stop."""
        from udaconnect.stackfile import live_stack, stack_file

        assert self.kafka is not None
        path = stack_file(self.settings.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        owner = live_stack(self.settings.data_dir).get("pid")
        if owner and owner != os.getpid():
            self.say(f"{path} belongs to the stack of process {owner}, which still runs: left as it is")
            return
        # the database's URL holds its password: the file is the owner's alone, as ~/.pgpass is
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({"kafka": self.kafka.bootstrap_servers, "broker": self.processes["broker"].url,
                                  "api": self.api_url, "web": self.web_url, "database": self.database_url,
                                  "metrics": self.metrics, "pid": os.getpid()}))

    @property
    def last_stop_file(self) -> Path:
        """What the last drained stop left undelivered, for the next start to report."""
        return self.settings.data_dir / "last-stop.json"

    def last_stop(self) -> str:
        """One line on what the previous stop of a stack on this data directory left, or ''."""
        try:
            last = json.loads(self.last_stop_file.read_text())
        except (OSError, ValueError):
            return ""
        if last.get("undelivered", 0) is None:
            return "WARNING: the last stop could not check that every accepted event was delivered (Kafka did not " \
                   "answer)" + ("" if last.get("kafka_kept_them") else "; the in-memory Kafka lost any it held")
        if not last.get("undelivered"):
            return "the last stop delivered every accepted event"
        kept = "they wait in Kafka" if last.get("kafka_kept_them") else "the in-memory Kafka lost them"
        return f"WARNING: the last stop left {last['undelivered']} accepted event(s) undelivered; {kept}"

    @property
    def trigger_groups(self) -> dict[str, str]:
        """consumer group -> topic of every Trigger in eventing/."""
        from udaconnect_dev.broker.loader import load_dir
        from udaconnect_dev.broker.topics import trigger_groups

        return trigger_groups(load_dir(self.settings.eventing_dir))

    def lag(self) -> dict[str, int]:
        """Per ready Trigger's consumer group: events accepted into Kafka and not yet delivered (committed).
        A Trigger that is not ready (its subscriber does not resolve) delivers nothing, as in Knative: no wait."""
        from udaconnect.events.kafka_client import trigger_lag

        assert self.kafka is not None
        groups = self.trigger_groups
        broker = self.processes.get("broker")
        try:
            with urllib.request.urlopen(broker.url + "/status", timeout=5) as reply:  # type: ignore[union-attr]
                ready = {t["group"] for t in json.loads(reply.read())["triggers"] if t["ready"]}
            groups = {group: topic for group, topic in groups.items() if group in ready}
        except (OSError, ValueError, KeyError, AttributeError):
            pass  # no broker to ask: count every Trigger
        return trigger_lag(self.kafka.bootstrap_servers, groups)

    def wait_drained(self, timeout: float) -> int | None:
        """Wait until every Trigger delivered what is in its topic: the events still undelivered at the bound,
        or None when Kafka could not tell (then nobody knows what was delivered)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                left = sum(self.lag().values())
            except Exception as exc:  # Kafka unreachable: nothing more can be delivered, nor counted
                self.say(f"cannot read the Triggers' progress from Kafka: {exc!r}")
                return None
            if left == 0 or time.monotonic() >= deadline:
                return left
            time.sleep(0.5)

    # Supervision: what Kubernetes does for a pod whose container exits.
    def supervise(self, interval: float = 0.5) -> None:
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._watch, args=(interval,), name="supervisor", daemon=True)
            self._supervisor.start()

    def _watch(self, interval: float) -> None:
        try:
            self._restart_what_exits(interval)
        finally:
            # The processes this thread restarted get SIGTERM when it ends (PR_SET_PDEATHSIG follows the thread
            # that forked): it lives until stop() has ended them in their order.
            self._stopped_all.wait()

    def _restart_what_exits(self, interval: float) -> None:
        backoff: dict[str, float] = {}  # CrashLoopBackOff: 1 s, doubling to 30 s, for a process that keeps dying
        while not self._stopping.wait(interval):
            with self._lock:
                if self._stopping.is_set():
                    return
                if self.kafka is not None and self.kafka.process is not None and self.kafka.process.poll() is not None:
                    try:
                        self._restart_kafka()
                    except StopRequested:
                        return
                for name, process in list(self.processes.items()):
                    code = process.popen.poll()
                    if code is None:
                        continue
                    wait = backoff.get(name, 0.0)
                    if self._stopping.is_set():
                        return
                    self.say(f"{name} exited with {code}; restarting it" + (f" in {wait:g} s" if wait else ""))
                    if wait and self._stopping.wait(wait):
                        return
                    try:
                        self.restart(name)
                        backoff[name] = min(max(wait * 2, 1.0), 30.0)
                        self.say(f"{name} is back on port {process.port}")
                    except StopRequested:
                        return
                    except Exception as exc:
                        self.say(f"{name} did not come back: {exc}")

    def _restart_kafka(self) -> None:
        """A new, empty in-memory Kafka behind the same address, and a broker that knows nothing of the old one.

        The broker goes first, gracefully (its deliveries in flight finish; Kafka is down, so it can commit
        nothing), so that no offset of the old topics is ever committed into the new ones. Then Kafka, its
        topics, and each Trigger's start committed at the beginning of the new topics: everything in them was
        accepted after the Trigger existed. Then a fresh broker."""
        assert self.kafka is not None
        self.say("Kafka exited; restarting it on the same port. It kept events in memory: those the broker had "
                 "not fetched are gone (set KAFKA_BOOTSTRAP_SERVERS to a real Kafka for durability)")
        broker = self.processes.get("broker")
        if broker is not None:
            self.stop_process("broker")
        if self._stopping.is_set():
            raise StopRequested("the stack is stopping: Kafka is not restarted")
        self.kafka.process = None
        self.kafka.start()
        from udaconnect_dev.broker.kafka_adapter import ensure_topics, init_offsets
        from udaconnect_dev.broker.loader import load_dir
        from udaconnect_dev.broker.topics import topic_configs, wanted_topics

        eventing = load_dir(self.settings.eventing_dir)
        ensure_topics(self.kafka.bootstrap_servers, wanted_topics(eventing), topic_configs(eventing))
        init_offsets(self.kafka.bootstrap_servers, self.trigger_groups, start="beginning")
        if broker is not None:
            self.restart("broker")
        self.say("Kafka is back, with the broker")

    def spawn_broker(self, port: int) -> Process:
        """The local broker data plane, its Trigger subscribers resolved to this stack's processes."""
        assert self.kafka is not None
        subscribers = [f"--subscriber={p.target}={p.url}" for p in self.processes.values()]
        command = [sys.executable, "-m", "udaconnect_dev.broker", "--eventing-dir", str(self.settings.eventing_dir),
                   "--host", LOOPBACK, "--port", str(port), "--bootstrap", self.kafka.bootstrap_servers,
                   *subscribers]
        return self._popen("broker", port, command, {})

    def restart(self, target: str) -> Process:
        """Start `target` again on its port with its environment (after stop_process or a crash)."""
        with self._lock:
            process = self.processes.get(target) or self._stopped[target]
            self.stop_process(target)
            restarted = self._popen(target, process.port, list(process.popen.args), process.env)  # type: ignore[arg-type]
        self.wait_healthy(restarted, timeout=90 if target == "broker" else 60)
        return restarted

    def spawn(self, target: str, port: int, env: dict[str, str]) -> Process:
        """Start `target` on `port` as its own functions-framework process, its metrics on a port of its own
        (loopback only, as in the cluster where nothing routes to them)."""
        command = function_command(target, port, self.host if target in EDGE else LOOPBACK)
        metrics = {"UDACONNECT_METRICS_PORT": str(free_port()), "UDACONNECT_METRICS_HOST": LOOPBACK}
        return self._popen(target, port, command, {**self.environment, **env, **metrics, "FUNCTION_TARGET": target,
                                                   "PORT": str(port)})

    @property
    def metrics(self) -> dict[str, str]:
        """Each function process's metrics address (Prometheus text at /metrics)."""
        return {name: f"http://{LOOPBACK}:{p.env['UDACONNECT_METRICS_PORT']}/metrics"
                for name, p in self.processes.items() if "UDACONNECT_METRICS_PORT" in p.env}

    def _popen(self, name: str, port: int, command: list[str], env: dict[str, str]) -> Process:
        with self._lock:  # stop() sets _stopping before it takes the lock: nothing starts once it has begun
            if self._stopping.is_set():
                raise StopRequested(f"the stack is stopping: {name} is not started")
            out: int | IO[bytes] = subprocess.DEVNULL
            if self.log_dir:
                self._private_log_dir()
                out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
            popen = subprocess.Popen(
                command, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
            )
            if not isinstance(out, int):
                out.close()  # the child has its own copy
            process = self.processes[name] = Process(name, port, popen, env)
            return process

    def _private_log_dir(self) -> None:
        """The logs hold people's ids and requests: the owner's alone (0700, also when an older stack made it)."""
        if self.log_dir:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.log_dir.chmod(0o700)

    def wait_healthy(self, process: Process, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._stopping.is_set() or self.stop_requested():
                raise StopRequested(f"a stop was asked for while {process.target} was starting")
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.target} exited with {process.popen.returncode} (see its log)")
            if ok(process.url + "/health", timeout=2):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{process.target} did not become healthy on port {process.port}")

    def stop_process(self, target: str, sig: int = signal.SIGTERM) -> None:
        self.stop_processes([target], grace=10.0, sig=sig)

    def stop_processes(self, targets: list[str], grace: float, sig: int = signal.SIGTERM) -> None:
        """`sig` to each target's process group at once, SIGKILL to what is still there after `grace` seconds;
        returns when every process of those groups is gone (a worker that outlived its master too)."""
        with self._lock:
            ending = [p for p in (self.processes.pop(t, None) for t in targets) if p is not None]
            self._stopped.update((p.target, p) for p in ending)
        for process in ending:
            if process.popen.poll() is None:
                _signal_group(process.popen.pid, sig)
        deadline = time.monotonic() + grace
        for process in ending:
            try:
                process.popen.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                self.say(f"{process.target} did not stop within {grace:g} s: killed")
                _signal_group(process.popen.pid, signal.SIGKILL)
                process.popen.wait()
            _signal_group(process.popen.pid, signal.SIGKILL)  # its group's stragglers, if any: no-op otherwise

    def stop(self, drain_timeout: float = 0.0) -> int | None:
        """Stop supervising; with a drain_timeout, first stop accepting (ingest, persons: the gateway answers 503
        with Retry-After) and wait until every Trigger delivered what Kafka holds. Returns the events left
        undelivered, which an in-memory Kafka then loses; None when that was not checked (no drain, or Kafka did
        not answer). Takes at most drain_timeout + STOP_GRACE + about 2 s (Kafka), whatever the processes do."""
        self._stopping.set()  # from now on nothing is (re)started: _popen refuses, wait_healthy gives up
        deadline = time.monotonic() + drain_timeout
        left: int | None = None
        try:
            with self._lock:  # the supervisor holds it while it restarts a process: wait for that to end
                pass
            if drain_timeout > 0 and "broker" in self.processes and self.kafka is not None:
                # SIGTERM: requests in flight finish; theirs are in Kafka
                self.stop_processes([t for t in ACCEPTING if t in self.processes],
                                    grace=max(min(10.0, deadline - time.monotonic()), 1.0))
                left = self.wait_drained(max(deadline - time.monotonic(), 0.0))
                if left:
                    self.say(f"{left} accepted event(s) were not delivered within {drain_timeout:g} s"
                             + ("" if self.kafka.external else "; the in-memory Kafka loses them now"))
                self.last_stop_file.write_text(json.dumps({"undelivered": left, "at": time.time(),
                                                           "kafka_kept_them": bool(self.kafka.external)}))
            # the edge and the broker (its deliveries in flight end), then their subscribers and the rest
            ends = STOP_GRACE + time.monotonic()
            self.stop_processes([t for t in self.processes if t in EDGE or t == "broker"], grace=STOP_GRACE / 2)
            self.stop_processes(list(self.processes), grace=max(ends - time.monotonic(), 0.5))
            if self.kafka is not None:
                self.kafka.stop()
                self.kafka = None
        finally:
            self._stopped_all.set()
            if self._supervisor is not None:
                self._supervisor.join(5)
        from udaconnect.stackfile import stack_file

        address = stack_file(self.settings.data_dir)
        try:
            if json.loads(address.read_text()).get("pid") == os.getpid():
                address.unlink()
        except (OSError, ValueError):
            pass
        return left

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    """`sig` to a process group, which may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
