"""A rendered pod spec read as the kubelet reads it, written as `podman run` arguments.

Why not `podman kube play`: podman 4.3.1 (Debian bookworm) panics on a `secret:` volume (nil pointer in
VolumeFromSecret), plays neither a Job nor a Knative Service, and does not make Secret and ConfigMap files
root-owned with `defaultMode` and group-owned by `fsGroup`, the very semantics that broke the migration Job.
Why not podman-py: it drives the same podman with the same flags over a socket service one would have to run;
the translation, not the transport, is the work. So this module does what the kubelet does for these fields:

- env: `envFrom` (ConfigMaps, Secrets; a later source wins), then `env` (`value`, `valueFrom` secretKeyRef /
  configMapKeyRef), `$(VAR)` expanded from variables defined before, `$$` an escaped `$`; a missing Secret,
  ConfigMap or key refuses the container (CreateContainerConfigError) unless `optional`. Knative adds PORT,
  K_SERVICE, K_CONFIGURATION and K_REVISION to a Service's container.
- securityContext, the container's over the pod's: runAsUser, runAsGroup, runAsNonRoot (verified against the
  image's numeric USER, refused when it is root or a name), fsGroup and supplementalGroups as extra groups,
  readOnlyRootFilesystem (with no tmpfs anywhere: podman's default --read-only-tmpfs is not Kubernetes),
  capabilities drop/add, allowPrivilegeEscalation=false as no-new-privileges.
- volumes: Secret and ConfigMap files written root-owned with `items[].mode` or `defaultMode` (0644 by default);
  with fsGroup, group fsGroup and the read-only mask 0440 or-ed in (pkg/volume SetVolumeOwnership), then mounted
  read-only; emptyDir a 0777 directory (fsGroup: its group, setgid) or a tmpfs for `medium: Memory`; subPath.
- command and args replace the image's ENTRYPOINT and CMD, both `$(VAR)`-expanded.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
RO_MASK = 0o440
RW_MASK = 0o660


class PodSpecError(ValueError):
    """The kubelet would refuse to start this container; the message says why, as the kubelet's event does."""


@dataclass
class Probe:
    kind: str  # http, tcp or exec
    port: int | None = None
    path: str = "/"
    command: list[str] = field(default_factory=list)
    period: float = 10.0
    failure_threshold: int = 3


@dataclass
class Container:
    name: str
    image: str
    args: list[str]  # podman run options (without "run" and the image)
    command: list[str] | None  # the entrypoint, when the spec overrides it
    cmd_args: list[str]
    env: dict[str, str]
    readiness: Probe | None
    liveness: Probe | None
    ports: dict[str, int]
    init: bool = False

    def run_argv(self, name: str, extra: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        entry = ["--entrypoint", json.dumps(self.command)] if self.command is not None else []
        return ["podman", "run", "--name", name, *self.args, *extra, *entry, self.image, *self.cmd_args]


@dataclass
class Objects:
    """The rendered ConfigMaps and Secrets of one namespace, as the API server would hand them to the kubelet."""

    config_maps: dict[str, dict[str, str]]
    secrets: dict[str, dict[str, bytes]]

    @classmethod
    def of(cls, docs: list[Doc], namespace: str) -> Objects:
        config_maps, secrets = {}, {}
        for doc in docs:
            if doc["metadata"].get("namespace", "default") != namespace:
                continue
            if doc["kind"] == "ConfigMap":
                config_maps[doc["metadata"]["name"]] = {k: str(v) for k, v in (doc.get("data") or {}).items()}
            elif doc["kind"] == "Secret":
                data = {k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()}
                data.update({k: str(v).encode() for k, v in (doc.get("stringData") or {}).items()})
                secrets[doc["metadata"]["name"]] = data
        return cls(config_maps, secrets)

    def source(self, kind: str, name: str, optional: bool) -> Mapping[str, str] | None:
        found: Mapping[str, str] | None
        if kind == "configMap":
            found = self.config_maps.get(name)
        else:
            raw = self.secrets.get(name)
            found = None if raw is None else {k: v.decode() for k, v in raw.items()}
        if found is None and not optional:
            raise PodSpecError(f'{kind} "{name}" not found')
        return found


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, undefined ones stay as written, $$ is $."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _REF.sub(one, value)


def resolve_env(container: Doc, objects: Objects, extra: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006
    env: dict[str, str] = dict(extra)
    for source in container.get("envFrom", []):
        kind = "configMap" if "configMapRef" in source else "secret"
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        found = objects.source(kind, ref["name"], ref.get("optional", False))
        for key, value in (found or {}).items():
            env[source.get("prefix", "") + key] = value
    for item in container.get("env", []):
        if "valueFrom" not in item:
            env[item["name"]] = expand(str(item.get("value", "")), env)
            continue
        value_from = item["valueFrom"]
        kind = "configMap" if "configMapKeyRef" in value_from else "secret"
        ref = value_from.get("configMapKeyRef") or value_from.get("secretKeyRef")
        if ref is None:
            raise PodSpecError(f"env {item['name']}: only configMapKeyRef and secretKeyRef are translated")
        found = objects.source(kind, ref["name"], ref.get("optional", False))
        if found is not None and ref["key"] in found:
            env[item["name"]] = found[ref["key"]]
        elif not ref.get("optional", False):
            raise PodSpecError(f'couldn\'t find key {ref["key"]} in {kind} {ref["name"]}')
    return env


def _security(pod: Doc, container: Doc) -> Doc:
    merged = {k: v for k, v in (pod.get("securityContext") or {}).items()
              if k in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile")}
    merged.update(container.get("securityContext") or {})
    return merged


def check_non_root(security: Doc, image_user: str) -> None:
    """The kubelet's runAsNonRoot check (kuberuntime verifyRunAsNonRoot)."""
    if not security.get("runAsNonRoot"):
        return
    if security.get("runAsUser") is not None:
        if int(security["runAsUser"]) == 0:
            raise PodSpecError("container's runAsUser breaks non-root policy")
        return
    user = image_user.split(":")[0]
    if not user.isdigit():
        raise PodSpecError(f"container has runAsNonRoot and image has non-numeric user ({user or 'root'}), "
                           "cannot verify user is non-root")
    if int(user) == 0:
        raise PodSpecError("container has runAsNonRoot and image will run as root")


def _probe(spec: Doc | None, ports: Mapping[str, int]) -> Probe | None:
    if not spec:
        return None
    common = {"period": float(spec.get("periodSeconds", 10)), "failure_threshold": int(spec.get("failureThreshold", 3))}
    if "exec" in spec:
        return Probe("exec", command=list(spec["exec"]["command"]), **common)  # type: ignore[arg-type]
    kind, action = ("http", spec["httpGet"]) if "httpGet" in spec else ("tcp", spec["tcpSocket"])
    port = action["port"]
    port = ports[port] if isinstance(port, str) and not port.isdigit() else int(port)
    return Probe(kind, port=port, path=action.get("path", "/"), **common)  # type: ignore[arg-type]


def write_volumes(pod: Doc, objects: Objects, root: Path,
                  unmanaged: frozenset[str] = frozenset()) -> dict[str, Path | None]:
    """Each volume's host directory, filled as the kubelet fills it; None for a memory-backed emptyDir.
    `unmanaged`: volumes whose ownership fsGroup does not change (hostPath-backed, as K3s' local-path PVs)."""
    pod_fs_group = (pod.get("securityContext") or {}).get("fsGroup")
    out: dict[str, Path | None] = {}
    for volume in pod.get("volumes", []):
        name, path = volume["name"], root / volume["name"]
        fs_group = None if name in unmanaged else pod_fs_group
        if "emptyDir" in volume:
            if (volume["emptyDir"] or {}).get("medium") == "Memory":
                out[name] = None
                continue
            path.mkdir(parents=True)
            os.chmod(path, 0o777)
            if fs_group is not None:
                os.chown(path, 0, int(fs_group))
                os.chmod(path, 0o777 | 0o2000)
        elif "secret" in volume or "configMap" in volume:
            kind = "secret" if "secret" in volume else "configMap"
            spec = volume[kind]
            ref = spec.get("secretName") if kind == "secret" else spec.get("name")
            raw: Mapping[str, bytes | str] | None = (objects.secrets.get(ref) if kind == "secret"
                                                     else objects.config_maps.get(ref))
            if raw is None:
                if spec.get("optional"):
                    raw = {}
                else:
                    raise PodSpecError(f'MountVolume.SetUp failed for volume "{name}": {kind} "{ref}" not found')
            default_mode = int(spec.get("defaultMode", 0o644))
            items = spec.get("items") or [{"key": k, "path": k} for k in raw]
            path.mkdir(parents=True)
            os.chmod(path, 0o755)
            for item in items:
                if item["key"] not in raw:
                    raise PodSpecError(f'MountVolume.SetUp failed for volume "{name}": key {item["key"]} missing')
                target = path / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                value = raw[item["key"]]
                target.write_bytes(value if isinstance(value, bytes) else value.encode())
                mode = int(item.get("mode", default_mode))
                os.chown(target, 0, 0)
                if fs_group is not None:
                    os.chown(target, 0, int(fs_group))
                    mode |= RO_MASK
                os.chmod(target, mode)
            if fs_group is not None:
                os.chown(path, 0, int(fs_group))
                os.chmod(path, 0o755 | 0o2000 | 0o110)
        else:
            raise PodSpecError(f"volume {name}: only emptyDir, secret and configMap are translated")
        out[name] = path
    return out


def translate(pod: Doc, container: Doc, *, objects: Objects, volumes: Mapping[str, Path | None],
              image: Callable[[str], str], image_user: Callable[[str], str],
              knative: Mapping[str, str] | None = None, init: bool = False) -> Container:
    """One container of a pod as `podman run` options; raises PodSpecError where the kubelet would refuse."""
    ports = {p.get("name", str(p["containerPort"])): int(p["containerPort"]) for p in container.get("ports", [])}
    extra: dict[str, str] = {}
    if knative is not None:
        extra = {"PORT": str(next(iter(ports.values()), 8080)), "K_SERVICE": knative["service"],
                 "K_CONFIGURATION": knative["service"], "K_REVISION": f"{knative['service']}-00001"}
    env = resolve_env(container, objects)
    env = {**extra, **env} if knative is None else {**env, **extra}
    local_image = image(container["image"])
    security = _security(pod, container)
    check_non_root(security, image_user(local_image))
    args: list[str] = []
    if security.get("runAsUser") is not None:
        user = str(security["runAsUser"])
        if security.get("runAsGroup") is not None:
            user += f":{security['runAsGroup']}"
        args += ["--user", user]
    pod_security = pod.get("securityContext") or {}
    groups = list(pod_security.get("supplementalGroups", []))
    if pod_security.get("fsGroup") is not None:
        groups.append(pod_security["fsGroup"])
    for group in groups:
        args += ["--group-add", str(group)]
    if security.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]
    caps = security.get("capabilities") or {}
    for cap in caps.get("drop", []):
        args += ["--cap-drop", cap]
    for cap in caps.get("add", []):
        args += ["--cap-add", cap]
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    for mount in container.get("volumeMounts", []):
        host = volumes.get(mount["name"], "missing")
        if host == "missing":
            raise PodSpecError(f"volumeMount {mount['name']} names no volume of the pod")
        read_only = mount.get("readOnly", False) or _is_projected(pod, mount["name"])
        if host is None:
            size = _size_limit(pod, mount["name"])
            args += ["--mount", f"type=tmpfs,destination={mount['mountPath']},tmpfs-mode=1777" + size]
            continue
        source = Path(host) / mount["subPath"] if mount.get("subPath") else Path(host)
        args += ["--volume", f"{source}:{mount['mountPath']}:{'ro' if read_only else 'rw'}"]
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    command = [expand(c, env) for c in container["command"]] if "command" in container else None
    cmd_args = [expand(a, env) for a in container.get("args", [])]
    return Container(container["name"], local_image, args, command, cmd_args, env,
                     _probe(container.get("readinessProbe"), ports), _probe(container.get("livenessProbe"), ports),
                     ports, init)


def _volume(pod: Doc, name: str) -> Doc:
    return next(v for v in pod.get("volumes", []) if v["name"] == name)


def _is_projected(pod: Doc, name: str) -> bool:
    volume = _volume(pod, name)
    return "secret" in volume or "configMap" in volume


def _size_limit(pod: Doc, name: str) -> str:
    limit = (_volume(pod, name).get("emptyDir") or {}).get("sizeLimit")
    if not limit:
        return ""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in units.items():
        if str(limit).endswith(suffix):
            return f",tmpfs-size={int(str(limit)[:-2]) * factor}"
    return f",tmpfs-size={limit}"


def describe(container: Container) -> str:
    """The command line, for logs and error messages (values of secrets are not printed)."""
    shown = [a if not a.startswith(tuple(f"{k}=" for k in container.env)) else a.split("=")[0] + "=..."
             for a in container.args]
    return shlex.join([*shown, container.image, *container.cmd_args])
