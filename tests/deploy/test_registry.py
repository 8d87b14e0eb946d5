"""The VM's registry: Debian's docker-registry, run on loopback with the config packages.sh installs, takes a push
and serves it back without credentials (Debian 12's shipped config answers 401, then 400, to every request)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from tests.deploy.conftest import ensure_tool

from udaconnect.settings import PROJECT_ROOT

VAGRANT = PROJECT_ROOT / "deploy" / "vagrant"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DEBIAN_CONFIG = Path("/etc/docker/registry/config.yml")


def installed_config() -> Path:
    """The file packages.sh copies over /etc/docker/registry/config.yml, else the package's own config."""
    script = (VAGRANT / "packages.sh").read_text()
    match = re.search(r'install -m \d+ "\$SCRIPT_DIR/([\w.-]+)" "\$REGISTRY_CONFIG"', script)
    if match and 'REGISTRY_CONFIG="/etc/docker/registry/config.yml"' in script:
        return VAGRANT / match.group(1)
    if ensure_tool("docker-registry", "docker-registry") is None:
        pytest.skip("packages.sh keeps Debian's config.yml, and docker-registry is not here to read it from")
    return DEBIAN_CONFIG


def test_the_registry_config_has_no_auth_and_listens_on_loopback() -> None:
    config = yaml.safe_load(installed_config().read_text())
    assert "auth" not in config
    assert config["http"]["addr"] == "127.0.0.1:5000"
    assert config["storage"]["filesystem"]["rootdirectory"] == "/var/lib/docker-registry"


def _request(url: str, method: str = "GET", data: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _push_blob(base: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, body = _request(f"{base}/v2/udaconnect/blobs/uploads/", "POST", b"")
    assert status == 202, (status, body)
    location = headers["Location"]
    location = location if location.startswith("http") else base + location
    separator = "&" if "?" in location else "?"
    status, _, body = _request(f"{location}{separator}digest={digest}", "PUT", data,
                               {"Content-Type": "application/octet-stream"})
    assert status == 201, (status, body)
    return digest


def test_debian_docker_registry_accepts_a_push_and_a_pull_without_credentials(tmp_path: Path) -> None:
    binary = ensure_tool("docker-registry", "docker-registry")
    if binary is None:
        pytest.skip("Debian's docker-registry is not installed and cannot be here (root and apt-get needed)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The installed config as packages.sh writes it; only the port and storage move to this test's own.
    env = dict(os.environ, REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}",
               REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(tmp_path / "storage"))
    server = subprocess.Popen([binary, "serve", str(installed_config())], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _, _ = _request(f"{base}/v2/")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the registry did not listen within 15 s"
                time.sleep(0.1)
        assert status == 200, f"GET /v2/ answered {status}: buildah push and K3s's pulls would fail"
        # What `buildah push` does, reduced to one layer: blobs, then the manifest; then pull it back.
        layer = _push_blob(base, b"udaconnect layer")
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
        config_digest = _push_blob(base, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer,
                        "size": len(b"udaconnect layer")}]}).encode()
        status, _, body = _request(f"{base}/v2/udaconnect/manifests/dev", "PUT", manifest, {"Content-Type": MANIFEST})
        assert status == 201, (status, body)
        status, _, body = _request(f"{base}/v2/udaconnect/manifests/dev", headers={"Accept": MANIFEST})
        assert status == 200 and json.loads(body)["config"]["digest"] == config_digest
    finally:
        server.terminate()
        server.wait(timeout=10)
