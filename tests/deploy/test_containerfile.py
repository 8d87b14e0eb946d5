"""The Containerfile, read rather than built (no container engine here): base, user, layers, sources, command."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from udaconnect.settings import PROJECT_ROOT

CONTAINERFILE = PROJECT_ROOT / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_the_base_is_python_3_11_slim() -> None:
    froms = [rest for keyword, rest in instructions() if keyword == "FROM"]
    # node only in the stage that builds the web client's assets; the image itself is Python's
    assert froms == ["docker.io/library/node:20-slim AS web-assets", "docker.io/library/python:3.11-slim"]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_the_web_assets_stage_installs_the_lockfile_and_the_image_takes_only_what_the_web_target_serves() -> None:
    from udaconnect.web.function import VENDOR

    steps = instructions()
    assert ("COPY", "package.json package-lock.json ./") in steps
    assert any(keyword == "RUN" and rest.startswith("npm ci ") for keyword, rest in steps)
    from_stage = [shlex.split(rest) for keyword, rest in final_stage() if keyword == "COPY" and "--from" in rest]
    assert [args[1] for args in from_stage] == [f"/build/node_modules/{built}/" for built in VENDOR.values()]
    # where the web target looks for them: node_modules/ beside functions/, as in a checkout
    assert all(args[2] == "./" + args[1].removeprefix("/build/") for args in from_stage)


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert user.isdigit() and int(user) != 0


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    ignore = [line.strip() for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for pattern in ignore:
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
                keep = negated
        return keep

    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY" and "--from" not in rest]
    assert copies
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), f"COPY {source}: missing in the repository"
            assert included(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    steps = final_stage()
    copies = [(i, rest) for i, (keyword, rest) in enumerate(steps) if keyword == "COPY"]
    first_code = next(i for i, rest in copies if rest.startswith("functions"))
    deps = next(i for i, (keyword, rest) in enumerate(steps) if keyword == "RUN" and "-r requirements.lock" in rest)
    # the lock alone: an edit of pyproject.toml that leaves the lock as it is rebuilds no dependency layer
    assert copies[0][1] == "requirements.lock ./" and copies[0][0] < deps < first_code


def test_the_image_copies_the_runtime_and_migrations_but_not_eventing_nor_the_dev_tooling() -> None:
    sources = {shlex.split(rest)[0].rstrip("/") for keyword, rest in final_stage() if keyword == "COPY"}
    assert {"functions/main.py", "functions/udaconnect", "schema", "pyproject.toml"} <= sources
    assert "eventing" not in sources
    # the developer tooling never reaches the image: not copied, and out of the build context too
    assert not any(source in ("functions", "functions/udaconnect_dev") for source in sources)
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    assert "functions/udaconnect_dev" in ignored


def test_the_command_serves_the_target_chosen_by_env_on_port_8080() -> None:
    steps = dict(instructions())
    assert "8080" in steps["EXPOSE"].split()
    assert re.search(r"\bPORT=8080\b", dict((k, v) for k, v in instructions() if k == "ENV")["ENV"])
    command = " ".join(json.loads(steps["CMD"]))
    assert "functions-framework --source functions/main.py" in command
    assert '--target "${FUNCTION_TARGET' in command and '--port "${PORT' in command


def test_the_command_serves_health_on_port(tmp_path) -> None:
    # Run the image's CMD as written (with this venv's functions-framework, from the repository as the image's
    # WORKDIR): it must start the chosen target and answer the probes' GET /health on $PORT.

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = json.loads(dict(instructions())["CMD"])
    env = dict(os.environ, FUNCTION_TARGET="gateway", PORT=str(port), THREADS="2", HOME=str(tmp_path),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    assert reply.status == 200 and json.loads(reply.read()) == {"status": "ok"}
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the CMD did not serve /health within 20 s"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_command_refuses_to_start_without_a_target() -> None:

    command = json.loads(dict(instructions())["CMD"])
    env = {k: v for k, v in os.environ.items() if k != "FUNCTION_TARGET"}
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode != 0 and "FUNCTION_TARGET" in result.stderr


def test_both_image_caches_are_keyed_on_every_file_the_image_copies() -> None:
    # the VM's build-image.sh and `nox -s image` rebuild only when their hash changes: a copied file left out of
    # it (the dependency lock) would leave an image built from the old one
    from udaconnect_dev.pods.images import APP_INPUTS

    script = re.sub(r"\\\n\s*", " ", (PROJECT_ROOT / "deploy" / "vagrant" / "build-image.sh").read_text())
    hashed = re.search(r"^\s*find (.+?) -type f", script, re.M)
    assert hashed, "build-image.sh: no find ... -type f over the image's sources"
    copied = {"Containerfile", ".dockerignore"} | {
        source.rstrip("/") for keyword, rest in instructions() if keyword == "COPY" and "--from" not in rest
        for source in shlex.split(rest)[:-1]}
    for name, keyed in (("build-image.sh", hashed[1].split()), ("images.APP_INPUTS", list(APP_INPUTS))):
        missing = [s for s in sorted(copied) if not any(s == k or s.startswith(k + "/") for k in keyed)]
        assert not missing, f"{name} does not hash {missing}"
