"""The rendered overlay's pods started with podman on one network, probed as the kubelet probes them.

A `Cluster` is one podman network (its own bridge and subnet) with fixed addresses handed out here, so every
container's /etc/hosts can name every Service before anything starts: a Kubernetes Service's names
(`postgis.udaconnect.svc.cluster.local`, `postgis.udaconnect.svc`, ...) lead to its pod, and a Knative Service's
names lead to the Kourier stand-in, an nginx that routes by Host to the Service's pod on its containerPort with
the Service's `timeoutSeconds` as its read timeout, as Kourier's internal gateway does. The edge's nginx resolves
names at request time (`resolver kube-dns...`), so a small DNS server (dnslib) answers on the network's gateway
address with the same table.

What a real cluster adds and this does not: Knative's queue-proxy (containerConcurrency, its own probe of the
container) and activator (scale from zero, buffering), Kourier's Envoy, the Kafka broker's data plane, kube-proxy
and NetworkPolicies. tests/deploy/test_pods.py says how each is covered instead.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from udaconnect_dev.pods import images
from udaconnect_dev.pods.kubelet import Container, Doc, Objects, PodSpecError, Probe, translate, write_volumes

KNATIVE = "serving.knative.dev"
KOURIER_IMAGE = "docker.io/nginxinc/nginx-unprivileged:1.30-alpine"


class PodError(RuntimeError):
    """A pod failed to start, to become ready or to complete; the message carries its logs."""


@dataclass
class Pod:
    name: str
    ip: str
    containers: list[Container]
    started: float = 0.0  # monotonic time of `podman run`
    ready_after: float | None = None

    @property
    def main(self) -> Container:
        return next(c for c in self.containers if not c.init)


def podman(*args: str, check: bool = True, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], env=images.environ(), text=True, capture_output=True,
                            timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise PodError(f"podman {' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def image_user(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()


def workload_pod(doc: Doc) -> tuple[Doc, dict[str, str] | None]:
    """The pod spec of a workload and, for a Knative Service, its name (Knative adds K_SERVICE etc.)."""
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    knative = {"service": doc["metadata"]["name"]} if doc["apiVersion"].startswith(KNATIVE) else None
    return spec["template"]["spec"], knative


def service_names(name: str, namespace: str) -> list[str]:
    return [f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", f"{name}.{namespace}"]


@dataclass
class Cluster:
    """One overlay's pods on their own network; `close()` removes every container, volume and the network."""

    docs: list[Doc]
    app_image: str
    namespace: str = "udaconnect"
    extra_hosts: dict[str, str] = field(default_factory=dict)  # further names -> pod name (e.g. an external DB)
    network: str = ""
    subnet: Any = None
    root: Path = Path()
    hosts: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)  # pod name -> address
    started: list[str] = field(default_factory=list)
    _dns: Any = None

    def __post_init__(self) -> None:
        self.network = f"udaconnect-pods-{secrets.token_hex(4)}"
        podman("network", "create", self.network)
        info = json.loads(podman("network", "inspect", self.network).stdout)[0]
        self.subnet = ipaddress.ip_network(info["subnets"][0]["subnet"])
        self.gateway = str(info["subnets"][0].get("gateway") or next(self.subnet.hosts()))
        self._next = 100
        self.root = Path(tempfile.mkdtemp(prefix="udaconnect-pods-"))
        self.objects = Objects.of(self.docs, self.namespace)
        self.kourier = self.address("kourier")
        self.hosts["kube-dns.kube-system.svc.cluster.local"] = self.gateway
        for doc in self.docs:
            meta = doc["metadata"]
            if doc["apiVersion"].startswith(KNATIVE) and doc["kind"] == "Service":
                for host in service_names(meta["name"], meta.get("namespace", self.namespace)):
                    self.hosts[host] = self.kourier
            elif doc["kind"] == "Service" and doc["apiVersion"] == "v1":
                target = self.address(meta["name"])
                for host in service_names(meta["name"], meta.get("namespace", self.namespace)):
                    self.hosts[host] = target
        for host, pod in self.extra_hosts.items():
            self.hosts[host] = self.address(pod)

    def address(self, pod: str) -> str:
        if pod not in self.addresses:
            self.addresses[pod] = str(self.subnet.network_address + self._next)
            self._next += 1
        return self.addresses[pod]

    def find(self, kind: str, name: str) -> Doc:
        for doc in self.docs:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
        raise KeyError(f"{kind}/{name} is not in the rendered overlay")

    def image(self, name: str) -> str:
        """The local image for a manifest's image name: the UdaConnect image for ours, else the stand-in."""
        if name.split("@")[0].rsplit("/", 1)[-1].split(":")[0] == "udaconnect":
            return self.app_image
        if name not in images.STANDINS:
            raise PodSpecError(f"no stand-in for image {name}")
        return name

    def plan(self, doc: Doc, *, objects: Objects | None = None, pod_name: str | None = None,
             edit: Callable[[Doc], None] | None = None) -> Pod:
        """The pod of a workload, translated, its volumes written; nothing runs yet."""
        pod_spec, knative = workload_pod(json.loads(json.dumps(doc)))
        if edit:
            edit(pod_spec)
        name = pod_name or doc["metadata"]["name"]
        objects = objects or self.objects
        volumes_root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
        # A PersistentVolumeClaim template: K3s' local-path provisioner hands out a 0777 host directory
        # (hostPath-backed, so fsGroup does not change it).
        for claim in doc["spec"].get("volumeClaimTemplates", []):
            pod_spec.setdefault("volumes", []).append({"name": claim["metadata"]["name"], "emptyDir": {}})
        claims = frozenset(c["metadata"]["name"] for c in doc["spec"].get("volumeClaimTemplates", []))
        volumes = write_volumes(pod_spec, objects, volumes_root, unmanaged=claims)
        containers = [translate(pod_spec, c, objects=objects, volumes=volumes, image=self.image,
                                image_user=image_user, knative=knative, init=True)
                      for c in pod_spec.get("initContainers", [])]
        containers += [translate(pod_spec, c, objects=objects, volumes=volumes, image=self.image,
                                 image_user=image_user, knative=knative) for c in pod_spec["containers"]]
        return Pod(name, self.address(name), containers)

    def _network_args(self, pod: Pod, *, ip: bool = True) -> list[str]:
        args = ["--network", self.network, "--label", f"udaconnect.pods={self.network}"]
        if ip:
            args += ["--ip", pod.ip]
        for host, address in self.hosts.items():
            args += ["--add-host", f"{host}:{address}"]
        return args

    def container(self, pod: str) -> str:
        """The podman name of a pod's container: unique per cluster, so parallel runs (worktrees, CI) never meet."""
        return f"{self.network}-{pod}"

    def exec(self, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.container(pod), *command, check=False, timeout=30)

    def stop(self, pod: Pod) -> None:
        self._remove(self.container(pod.name))

    def _remove(self, name: str) -> None:
        podman("rm", "-f", "-t", "0", name, check=False)

    def run_init(self, pod: Pod, timeout: float = 120) -> None:
        for container in (c for c in pod.containers if c.init):
            name = self.container(f"{pod.name}-{container.name}")
            argv = container.run_argv(name, ["--rm", *self._network_args(pod, ip=False)])
            result = subprocess.run(argv, env=images.environ(), text=True, capture_output=True, timeout=timeout)
            if result.returncode != 0:
                raise PodError(f"init container {container.name} of {pod.name} failed ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}{result.stderr[-3000:]}")

    def start(self, pod: Pod) -> Pod:
        """Init containers to completion, then the main container, detached; returns at once."""
        self.run_init(pod)
        container = pod.main
        name = self.container(pod.name)
        self._remove(name)
        pod.started = time.monotonic()
        argv = container.run_argv(name, ["-d", *self._network_args(pod)])
        result = subprocess.run(argv, env=images.environ(), text=True, capture_output=True, timeout=60)
        if result.returncode != 0:
            raise PodError(f"podman run {name} failed: {result.stderr.strip()}")
        self.started.append(name)
        return pod

    def run_job(self, pod: Pod, timeout: float = 300) -> str:
        """A Job's pod to completion: its logs; PodError with them when it fails."""
        self.run_init(pod)
        container = pod.main
        self._remove(self.container(pod.name))
        argv = container.run_argv(self.container(pod.name), ["--rm", *self._network_args(pod)])
        result = subprocess.run(argv, env=images.environ(), text=True, capture_output=True, timeout=timeout)
        logs = result.stdout + result.stderr
        if result.returncode != 0:
            raise PodError(f"Job pod {pod.name} failed ({result.returncode}):\n{logs[-4000:]}")
        return logs

    def logs(self, name: str) -> str:
        result = podman("logs", self.container(name), check=False)
        return (result.stdout + result.stderr)[-4000:]

    def running(self, name: str) -> bool:
        result = podman("inspect", "--format", "{{.State.Running}}", self.container(name), check=False)
        return result.stdout.strip() == "true"

    def probe(self, pod: Pod, probe: Probe) -> bool:
        if probe.kind == "exec":
            return self.exec(pod.name, *probe.command).returncode == 0
        if probe.kind == "tcp":
            import socket
            with socket.socket() as sock:
                sock.settimeout(1)
                return sock.connect_ex((pod.ip, probe.port or 0)) == 0
        try:
            with urllib.request.urlopen(f"http://{pod.ip}:{probe.port}{probe.path}", timeout=1) as answer:
                return 200 <= answer.status < 400
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, pod: Pod, timeout: float = 60, interval: float = 0.05) -> float:
        """Seconds from `podman run` to the first successful readiness probe (polled every `interval`)."""
        probe = pod.main.readiness or pod.main.liveness
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe is None or self.probe(pod, probe):
                pod.ready_after = time.monotonic() - pod.started
                return pod.ready_after
            if not self.running(pod.name):
                raise PodError(f"{pod.name} exited before it was ready:\n{self.logs(pod.name)}")
            time.sleep(interval)
        raise PodError(f"{pod.name} not ready after {timeout:.0f} s:\n{self.logs(pod.name)}")

    def start_kourier(self) -> None:
        """The stand-in for Kourier's internal gateway: Host -> the Knative Service's pod and containerPort."""
        servers = []
        for doc in self.docs:
            if not (doc["apiVersion"].startswith(KNATIVE) and doc["kind"] == "Service"):
                continue
            meta, spec = doc["metadata"], doc["spec"]["template"]["spec"]
            port = spec["containers"][0].get("ports", [{"containerPort": 8080}])[0]["containerPort"]
            names = " ".join(service_names(meta["name"], meta.get("namespace", self.namespace)))
            servers.append(f"server {{ listen 80; server_name {names}; location / {{ "
                           f"proxy_pass http://{self.address(meta['name'])}:{port}; "
                           f"proxy_read_timeout {spec.get('timeoutSeconds', 300)}s; proxy_buffering off; }} }}")
        conf = self.root / "kourier.conf"
        conf.write_text("worker_processes 1; pid /tmp/nginx.pid; error_log /dev/stderr warn;\n"
                        "events { worker_connections 1024; }\n"
                        "http { access_log off; proxy_http_version 1.1; proxy_set_header Host $host;\n"
                        "server { listen 80 default_server; return 404; }\n" + "\n".join(servers) + "\n}\n")
        conf.chmod(0o644)
        name = f"{self.network}-kourier"
        argv = ["podman", "run", "-d", "--name", name, "--user", "0", "--network", self.network, "--ip",
                self.kourier, "--label", f"udaconnect.pods={self.network}",
                "--volume", f"{conf}:/etc/nginx/nginx.conf:ro", KOURIER_IMAGE]
        subprocess.run(argv, env=images.environ(), check=True, capture_output=True, timeout=60)
        self.started.append(name)

    def start_dns(self) -> None:
        """Answers A queries for the cluster's names on the network's gateway (the edge's `resolver`)."""
        from dnslib import QTYPE, RR, A
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        table = self.hosts

        class Resolver(BaseResolver):
            def resolve(self, request: Any, handler: Any) -> Any:
                reply = request.reply()
                name = str(request.q.qname).rstrip(".")
                if request.q.qtype == QTYPE.A and name in table:
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(table[name]), ttl=10))
                elif name not in table:
                    reply.header.rcode = 3  # NXDOMAIN
                return reply

        # the bridge exists once a container is attached: the Kourier stand-in starts first
        for _ in range(50):
            try:
                self._dns = DNSServer(Resolver(), address=self.gateway, port=53,
                                      logger=DNSLogger("-send,-recv,-request,-reply,-truncated,-data"))
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise PodError(f"cannot listen for DNS on {self.gateway}:53")
        self._dns.start_thread()

    def close(self) -> None:
        if self._dns is not None:
            self._dns.stop()
        names = podman("ps", "-a", "-q", "--filter", f"label=udaconnect.pods={self.network}", check=False)
        for container in names.stdout.split():
            self._remove(container)
        podman("network", "rm", "-f", self.network, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def cluster(docs: list[Doc], app_image: str, **kwargs: Any) -> Iterator[Cluster]:
    running = Cluster(docs, app_image, **kwargs)
    try:
        yield running
    finally:
        running.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise PodError(f"timed out after {timeout:.0f} s waiting for {what}")


__all__ = ["Cluster", "Pod", "PodError", "PodSpecError", "cluster", "wait_for"]
