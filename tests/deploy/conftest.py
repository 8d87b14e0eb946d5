"""Fixtures for the deployment checks: tools installed on demand, every overlay rendered once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from udaconnect.settings import PROJECT_ROOT

REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
MANIFESTS = PROJECT_ROOT / "manifests"
OVERLAYS = sorted(p.parent.name for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))
Doc = dict[str, Any]
#: What a deployment keeps in an overlay's git-ignored auth/ (the token keys, ingest's credential).
AUTH_FILES = ("signing-key.pem", "jwks.json", "revocations-token", "delivery-key")


def ensure_tool(command: str, package: str) -> str | None:
    """The path of `command`, installing Debian's `package` when it is missing and we may (root, apt-get)."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (["apt-get", "install", "-y", "-qq", package], ["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", package]):
        if subprocess.run(args, env=env, capture_output=True, timeout=300).returncode == 0 and shutil.which(command):
            break
    return shutil.which(command)


@pytest.fixture(scope="session")
def kubectl() -> str:
    # Debian 12's kubernetes-client (1.20) embeds kustomize 2.0, too old for `labels`, `replacements` and
    # inline patches: the kubectl package (1.3x, kustomize 5) is what this project renders with.
    path = ensure_tool("kubectl", "kubectl") or ensure_tool("kubectl", "kubernetes-client")
    if path is None:
        pytest.fail("kubectl is needed to render the manifests: apt-get install kubectl")
    return path


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of manifests/ and eventing/ with placeholder db.env files where the real ones are git-ignored."""
    root = tmp_path_factory.mktemp("deploy")
    shutil.copytree(MANIFESTS, root / "manifests", ignore=shutil.ignore_patterns("*.env"))
    shutil.copytree(PROJECT_ROOT / "eventing", root / "eventing")
    for example in (root / "manifests").rglob("*.env.example"):
        names = [line.split("=", 1)[0] for line in example.read_text().splitlines()
                 if line and not line.startswith("#")]
        example.with_suffix("").write_text("".join(f"{name}=placeholder-{name.lower()}\n" for name in names))
    import secrets

    from udaconnect.auth import keys

    for overlay in (root / "manifests" / "overlays").iterdir():  # the git-ignored token keys (auth/)
        auth = overlay / "auth"
        auth.mkdir(exist_ok=True)
        for name in AUTH_FILES:
            (auth / name).write_text(f"placeholder-{name}\n")
        # a real keypair, as deploy.sh makes it (`udaconnect keys rotate`): the pods' tokens must verify
        (auth / keys.JWKS).unlink()
        keys.rotate(auth)
        (auth / keys.DELIVERY_KEY).write_text(secrets.token_hex(32) + "\n")  # as `openssl rand -hex 32`
    # the production database's CA certificate (git-ignored): a placeholder, the manifests only mount it
    (root / "manifests" / "overlays" / "production" / "db-ca.crt").write_text("placeholder-db-ca\n")
    return root


def render(kubectl: str, directory: Path) -> list[Doc]:
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(kubectl: str, workspace: Path) -> dict[str, list[Doc]]:
    """Every overlay (and the base) rendered: name -> objects."""
    out = {name: render(kubectl, workspace / "manifests" / "overlays" / name) for name in OVERLAYS}
    out["base"] = render(kubectl, workspace / "manifests" / "base")
    return out


@pytest.fixture(scope="session", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, list[Doc]]) -> Iterator[tuple[str, list[Doc]]]:
    yield request.param, rendered[request.param]


def find(docs: list[Doc], kind: str, name: str | None = None, api_group: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
            and (api_group is None or d["apiVersion"].split("/")[0] == api_group)]


def knative_services(docs: list[Doc]) -> list[Doc]:
    return find(docs, "Service", api_group="serving.knative.dev")


def pod_spec(doc: Doc) -> Doc:
    """The pod template's spec of a workload (a CronJob's is inside its Job template)."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def containers(doc: Doc) -> list[Doc]:
    """Every container of a workload (Knative Service, Deployment, StatefulSet, Job, CronJob), init containers too."""
    spec = pod_spec(doc)
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def env_of(container: Doc) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", []) if "name" in e}
