"""The translation of a pod spec to `podman run` (udaconnect_dev.pods.kubelet) does what the kubelet does."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deploy.conftest import Doc, find
from udaconnect_dev.pods.kubelet import Objects, PodSpecError, expand, resolve_env, translate, write_volumes

OBJECTS = Objects(config_maps={"cfg": {"HOST": "db", "PORT": "5432"}},
                  secrets={"db": {"USER": b"owner", "PASSWORD": b"s3cret"}, "roles": {"persist": b"pw"}})
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="writes root-owned volume files as the kubelet does")


def test_expansion_follows_kubernetes() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("x-$(A)-$(B)-$(C)-$$(A)", env) == "x-1-two-$(C)-$(A)"


def test_env_from_then_env_in_order() -> None:
    container = {"envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "db"}}],
                 "env": [{"name": "URL", "value": "postgresql://$(USER):$(PASSWORD)@$(HOST):$(PORT)/$(LATER)"},
                         {"name": "LATER", "value": "db"},
                         {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "roles", "key": "persist"}}}]}
    env = resolve_env(container, OBJECTS)
    # $(LATER) is defined after URL: Kubernetes leaves it as written
    assert env["URL"] == "postgresql://owner:s3cret@db:5432/$(LATER)"
    assert env["PW"] == "pw"


@pytest.mark.parametrize("container", [
    {"envFrom": [{"secretRef": {"name": "absent"}}]},
    {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "roles", "key": "absent"}}}]},
    {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]},
])
def test_missing_sources_refuse_the_container(container: Doc) -> None:
    with pytest.raises(PodSpecError):
        resolve_env(container, OBJECTS)


def test_optional_sources_do_not() -> None:
    assert resolve_env({"envFrom": [{"secretRef": {"name": "absent", "optional": True}}]}, OBJECTS) == {}


def _translate(pod: Doc, image_user: str = "10001:10001") -> list[str]:
    return translate(pod, pod["containers"][0], objects=OBJECTS, volumes={}, image=lambda name: name,
                     image_user=lambda image: image_user).args


def test_security_context_becomes_podman_flags() -> None:
    pod = {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000},
           "containers": [{"name": "c", "image": "i", "securityContext": {
               "runAsUser": 1001, "runAsGroup": 3000, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
               "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}
    args = " ".join(_translate(pod))
    assert "--user 1001:3000" in args  # the container's wins over the pod's
    assert "--group-add 2000" in args
    assert "--read-only --read-only-tmpfs=false" in args  # no tmpfs Kubernetes would not mount
    assert "--cap-drop ALL" in args and "--cap-add NET_BIND_SERVICE" in args
    assert "--security-opt no-new-privileges" in args


@pytest.mark.parametrize(("image_user", "refused"), [("10001:10001", False), ("0", True), ("", True),
                                                      ("udaconnect", True)])
def test_run_as_non_root_is_verified_against_the_image(image_user: str, refused: bool) -> None:
    pod = {"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c", "image": "i"}]}
    if refused:
        with pytest.raises(PodSpecError):
            _translate(pod, image_user)
    else:
        _translate(pod, image_user)


def _mode(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


@needs_root
def test_secret_files_are_root_owned_with_default_mode(tmp_path: Path) -> None:
    pod = {"volumes": [{"name": "r", "secret": {"secretName": "roles", "defaultMode": 0o400}}]}
    volumes = write_volumes(pod, OBJECTS, tmp_path)
    assert _mode(Path(volumes["r"]) / "persist") == (0, 0, 0o400)  # type: ignore[arg-type]


@needs_root
def test_fs_group_owns_secret_files_with_group_read(tmp_path: Path) -> None:
    pod = {"securityContext": {"fsGroup": 10001},
           "volumes": [{"name": "r", "secret": {"secretName": "roles", "defaultMode": 0o400}},
                       {"name": "t", "emptyDir": {}}]}
    volumes = write_volumes(pod, OBJECTS, tmp_path)
    assert _mode(Path(volumes["r"]) / "persist") == (0, 10001, 0o440)  # type: ignore[arg-type]
    uid, gid, mode = _mode(Path(volumes["t"]))  # type: ignore[arg-type]
    assert (gid, mode & 0o777, bool(mode & stat.S_ISGID)) == (10001, 0o777, True)


@needs_root
def test_a_missing_secret_volume_refuses_the_pod(tmp_path: Path) -> None:
    with pytest.raises(PodSpecError, match="not found"):
        write_volumes({"volumes": [{"name": "r", "secret": {"secretName": "absent"}}]}, OBJECTS, tmp_path)


def test_every_secret_file_a_non_root_container_reads_is_readable(rendered: dict[str, list[Doc]]) -> None:
    """A container that runs as a non-root uid can read the Secret and ConfigMap files mounted into it: the
    file's mode (defaultMode or items[].mode, 0644 by default) lets others read, or fsGroup's group does."""
    problems = []
    for overlay, docs in rendered.items():
        for doc in find(docs, "Job") + find(docs, "CronJob") + find(docs, "Deployment") + find(docs, "StatefulSet"):
            spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
            pod = spec["template"]["spec"]
            fs_group = (pod.get("securityContext") or {}).get("fsGroup")
            for volume in pod.get("volumes", []):
                source = volume.get("secret") or volume.get("configMap")
                if source is None:
                    continue
                modes = [int(item.get("mode", source.get("defaultMode", 0o644))) for item in source.get("items", [])]
                modes = modes or [int(source.get("defaultMode", 0o644))]
                if not all(mode & 0o004 or (fs_group is not None) for mode in modes):
                    problems.append(f"{overlay}: {doc['kind']} {doc['metadata']['name']} volume {volume['name']} "
                                    f"mode {oct(min(modes))} without fsGroup: root-owned files its user cannot read")
    assert not problems, problems
