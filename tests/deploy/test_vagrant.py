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


#: The release each pin names, and the files the scripts download from it: checked on 2026-12-01 against each
#: project's own git tags and release scripts (serving hack/generate-yamls.sh, net-kourier hack/release.sh,
#: eventing hack/generate-yamls.sh, eventing-kafka-broker hack/artifacts-env.sh, client hack/release.sh, func
#: hack/release.sh) and knative/operator's bundled 1.23.0 manifests. K3s from its v1.34 channel as reported in
#: October 2026 (v1.34.12+k3s1; the installer picks k3s or k3s-arm64 itself).
RELEASES = {
    "KNATIVE_SERVING_VERSION": ("knative-v1.23.0", {"serving-crds.yaml", "serving-core.yaml"}),
    "KNATIVE_KOURIER_VERSION": ("knative-v1.23.0", {"kourier.yaml"}),
    "KNATIVE_EVENTING_VERSION": ("knative-v1.23.0", {"eventing-crds.yaml", "eventing-core.yaml"}),
    "KNATIVE_KAFKA_BROKER_VERSION": ("knative-v1.23.0", {"eventing-kafka-controller.yaml",
                                                         "eventing-kafka-broker.yaml", "eventing-kafka-sink.yaml"}),
    "KN_VERSION": ("knative-v1.23.0", {"kn-linux-amd64", "kn-linux-arm64"}),
    "FUNC_VERSION": ("knative-v1.23.1", {"func_linux_amd64", "func_linux_arm64"}),
    "STRIMZI_VERSION": ("1.2.0", {"strimzi-cluster-operator-1.2.0.yaml"}),
    "K3S_VERSION": ("v1.34.12+k3s1", set()),
}


def test_versions_are_pinned_to_the_set_that_fits_together() -> None:
    versions = pinned()
    major, minor = map(int, re.match(r"v(\d+)\.(\d+)\.\d+\+k3s\d+$", versions["K3S_VERSION"]).groups())  # type: ignore[union-attr]
    assert (major, minor) >= (1, 34), "Knative 1.23 needs Kubernetes >= 1.34"
    assert {name: tag for name, (tag, _) in RELEASES.items()} == {name: versions[name] for name in RELEASES}


def test_every_downloaded_asset_is_one_the_release_publishes() -> None:
    # The asset names the scripts build, for both architectures machine_arch can return.
    scripts = {name: (PROJECT_ROOT / "deploy" / "vagrant" / name).read_text()
               for name in ("knative.sh", "clis.sh", "strimzi.sh")}
    knative = scripts["knative.sh"]
    for variable in ("KNATIVE_SERVING_VERSION", "KNATIVE_KOURIER_VERSION", "KNATIVE_EVENTING_VERSION",
                     "KNATIVE_KAFKA_BROKER_VERSION"):
        named = set(re.findall(rf'"\${variable}" ([\w.-]+\.yaml)', knative))
        loop = re.search(rf'for file in ([\w. -]+); do\n\s+apply_release \S+ "\${variable}"', knative)
        named |= set(loop.group(1).split()) if loop else set()
        assert named == RELEASES[variable][1], variable
    clis = scripts["clis.sh"]
    for arch in ("amd64", "arm64"):
        assert f"kn-linux-{arch}" in RELEASES["KN_VERSION"][1] and '"kn-linux-${arch}"' in clis
        assert f"func_linux_{arch}" in RELEASES["FUNC_VERSION"][1] and '"func_linux_${arch}"' in clis
    assert 'file="strimzi-cluster-operator-${STRIMZI_VERSION}.yaml"' in scripts["strimzi.sh"]


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


def test_k3s_waits_for_the_node_to_register_before_kubectl_wait(tmp_path: Path) -> None:
    """The API server answers `get nodes` with nothing before the kubelet registers: `kubectl wait node --all`
    then fails at once, so provisioning waits for a node first (a stub kubectl registers it on the third call)."""
    k3s = (PROJECT_ROOT / "deploy" / "vagrant" / "k3s.sh").read_text()
    assert "wait_for_nodes" in k3s and "kubectl wait node" not in k3s
    stub = tmp_path / "kubectl"
    stub.write_text(f"""#!/usr/bin/env bash
count=$(( $(cat {tmp_path}/calls 2>/dev/null || echo 0) + 1 )); echo "$count" > {tmp_path}/calls
echo "$*" >> {tmp_path}/log
if [[ "$1" == get ]]; then (( count >= 3 )) && echo node/vagrant; exit 0; fi
if [[ "$1" == wait ]]; then (( count >= 3 )) || {{ echo "error: no matching resources found" >&2; exit 1; }}; fi
""")
    stub.chmod(0o755)
    lib = PROJECT_ROOT / "deploy" / "vagrant" / "lib.sh"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", f"set -euo pipefail; source {lib}; sleep() {{ :; }}; wait_for_nodes 10"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "log").read_text().splitlines()[-1].startswith("wait node --all --for=condition=Ready")
    (tmp_path / "calls").write_text("-100")
    result = subprocess.run(["bash", "-c", f"set -euo pipefail; source {lib}; sleep() {{ :; }}; wait_for_nodes 10"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "no node registered" in result.stderr


def test_provisioning_installs_kn_udaconnect_and_prints_sign_in_links() -> None:
    """The cluster is usable as the local stack is: `kn udaconnect token` in the VM, and sign-in links printed
    at the end of provisioning (every API call needs a bearer token)."""
    vagrant = PROJECT_ROOT / "deploy" / "vagrant"
    clis, deploy = (vagrant / "clis.sh").read_text(), (vagrant / "deploy.sh").read_text()
    assert "/usr/local/bin/kn-udaconnect" in clis and "python3-venv" in (vagrant / "packages.sh").read_text()
    output = deploy[deploy.index("cat <<TEXT"):]
    assert "${attendee_link}" in output and "${organizer_link}" in output
    assert re.search(r"kn udaconnect token --person \d+ --link --web-url http://localhost:30000", deploy)
    # signed with the overlay's issuer key (the one the JWKS in the cluster publishes), never a shared secret
    assert 'export UDACONNECT_AUTH_SIGNING_KEY_FILE="$OVERLAY/auth/signing-key.pem"' in deploy
    assert "UDACONNECT_AUTH_SECRET" not in deploy and "auth.env" not in deploy
