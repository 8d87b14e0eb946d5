"""The Vagrantfile and the provisioning scripts: vagrant validate, shellcheck, pins, idempotence guards."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.deploy.conftest import ensure_tool

from udaconnect.settings import PROJECT_ROOT

SCRIPTS = sorted((PROJECT_ROOT / "deploy" / "vagrant").glob("*.sh")) + sorted(
    (PROJECT_ROOT / "scripts").glob("*.sh"))
VERSIONS = PROJECT_ROOT / "deploy" / "vagrant" / "versions.sh"


def pinned() -> dict[str, str]:
    return dict(re.findall(r'^([A-Z0-9_]+)="([^"]*)"', VERSIONS.read_text(), re.M))


@pytest.fixture(scope="module")
def shellcheck() -> str:
    path = ensure_tool("shellcheck", "shellcheck")
    if path is None:
        pytest.skip("shellcheck is not installed and cannot be installed here (apt-get install shellcheck)")
    return path


def test_every_script_passes_shellcheck(shellcheck: str) -> None:
    assert SCRIPTS
    result = subprocess.run([shellcheck, "--severity=style", *map(str, SCRIPTS)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_runnable_script_is_strict_and_executable() -> None:
    for script in SCRIPTS:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        if script.name in ("versions.sh", "lib.sh"):
            continue  # sourced, never run
        assert "\nset -euo pipefail\n" in text, script.name
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


def test_versions_are_pinned_to_the_set_that_fits_together() -> None:
    versions = pinned()
    major, minor = map(int, re.match(r"v(\d+)\.(\d+)\.\d+\+k3s\d+$", versions["K3S_VERSION"]).groups())  # type: ignore[union-attr]
    assert (major, minor) >= (1, 34), "Knative 1.22 needs Kubernetes >= 1.34"
    assert versions["KNATIVE_SERVING_VERSION"] == "knative-v1.22.1"
    assert versions["KNATIVE_KOURIER_VERSION"] == "knative-v1.22.0"
    assert versions["KNATIVE_EVENTING_VERSION"] == "knative-v1.22.2"
    assert versions["KNATIVE_KAFKA_BROKER_VERSION"] == "knative-v1.22.3"
    assert versions["STRIMZI_VERSION"] == "1.2.0"
    assert versions["KN_VERSION"] == "knative-v1.22.1"
    assert versions["FUNC_VERSION"] == "knative-v1.22.2"


def test_the_vm_image_is_the_one_the_vagrant_overlay_deploys() -> None:
    image = pinned()["IMAGE"].replace("${REGISTRY}", pinned()["REGISTRY"])
    kustomization = (PROJECT_ROOT / "manifests" / "overlays" / "vagrant" / "kustomization.yaml").read_text()
    name, tag = image.rsplit(":", 1)
    assert f"newName: {name}" in kustomization and f"newTag: {tag}" in kustomization


def test_install_steps_check_before_they_change_anything() -> None:
    # Idempotence by construction: each installer is guarded, downloads are cached, applies are declarative.
    k3s = (PROJECT_ROOT / "deploy" / "vagrant" / "k3s.sh").read_text()
    assert 'grep -qF "$K3S_VERSION"' in k3s and "--disable traefik" in k3s
    packages = (PROJECT_ROOT / "deploy" / "vagrant" / "packages.sh").read_text()
    assert "dpkg-query" in packages
    deploy = (PROJECT_ROOT / "deploy" / "vagrant" / "deploy.sh").read_text()
    assert '[[ ! -s "$OVERLAY/db.env" ]]' in deploy, "credentials must be generated once, then kept"
    build = (PROJECT_ROOT / "deploy" / "vagrant" / "build-image.sh").read_text()
    assert "io.udaconnect.source-hash" in build
    for script in SCRIPTS:
        for line in script.read_text().splitlines():
            if re.search(r"\bkubectl (create|replace)\b", line):
                assert "get " in script.read_text(), f"{script.name}: create without a check"


def test_the_vagrantfile_sizes_the_vm_and_forwards_the_original_ports() -> None:
    text = (PROJECT_ROOT / "Vagrantfile").read_text()
    assert re.search(r"vb\.cpus = 6\b", text)
    assert int(re.search(r"vb\.memory = (\d+)", text).group(1)) >= 12 * 1024  # type: ignore[union-attr]
    for port in (30000, 30001):
        assert re.search(rf'forwarded_port", guest: {port}, host: {port}', text), port
    assert "/vagrant/deploy/vagrant/provision.sh" in text


def test_vagrant_validates_the_vagrantfile(tmp_path: Path) -> None:
    vagrant = shutil.which("vagrant")
    if vagrant is None:
        pytest.skip("vagrant is not installed (Debian: apt-get install vagrant, ~300 packages, not done here)")
    env = dict(os.environ, VAGRANT_HOME=str(tmp_path / "home"), VAGRANT_DOTFILE_PATH=str(tmp_path / "dot"),
               VAGRANT_CHECKPOINT_DISABLE="1", VAGRANT_CWD=str(PROJECT_ROOT))
    result = subprocess.run([vagrant, "validate"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
