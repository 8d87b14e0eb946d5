"""Developer sessions: tests, the local stack, benchmarks, lint, docs. Each installs what it needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
POSTGIS = ["postgresql", "postgresql-contrib", "postgresql-15-postgis-3"]
# each package's command has its name (udaconnect_dev.pods.images.DEBIAN_PACKAGES)
PODMAN = ["podman", "buildah", "runc", "debootstrap"]
#: the image's dependencies, installed by the Containerfile with --require-hashes (nox -s lock writes it)
LOCK = "requirements.lock"
#: the image's interpreter and platform (the Containerfile's python:3.11-slim), which the lock is resolved for
IMAGE_PYTHON = ("3.11", "x86_64-unknown-linux-gnu")


def _postgis_present() -> bool:
    return any(Path(p).exists() for p in ("/usr/share/postgresql/15/extension/postgis.control",)) or bool(
        list(Path("/usr/share/postgresql").glob("*/extension/postgis.control")))


def apt_install(session: nox.Session, packages: list[str], why: str) -> None:
    """Install Debian packages when root, or stop with the exact command to run."""
    command = f"apt-get update && apt-get install -y {' '.join(packages)}"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.error(f"{why} is missing; install it with: sudo sh -c '{command}'")
    session.log(f"installing {why}: {command}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True, env=env)


def ensure_postgis(session: nox.Session) -> None:
    if os.environ.get("DATABASE_URL") or os.environ.get("UDACONNECT_TEST_DATABASE_URL"):
        return
    if not _postgis_present() or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        apt_install(session, POSTGIS, "PostgreSQL + PostGIS")


def ensure_test_tools(session: nox.Session) -> None:
    """Browsers and manifest checkers the tests drive; a machine without apt gets their tests skipped."""
    wanted = {"chromium": "chromium", "shellcheck": "shellcheck", "dot": "graphviz"}
    missing = [package for tool, package in wanted.items() if not shutil.which(tool)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        apt_install(session, missing, "test tools")


def ensure_web_assets(session: nox.Session) -> None:
    """The web client's map library (Leaflet), from package-lock.json into node_modules/, which the web target
    serves under /vendor/. Without npm the client still runs, with no map, and the map's browser tests skip."""
    if not shutil.which("npm"):
        session.warn("npm is missing: the web client's map (Leaflet) is not installed, so the page shows no map "
                     "and its browser tests skip; install Node.js 20 with npm (apt-get install -y nodejs npm)")
        return
    session.run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite against real PostGIS (embedded unless UDACONNECT_TEST_DATABASE_URL is set)."""
    ensure_postgis(session)
    ensure_test_tools(session)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        ensure_podman(session)  # the pod tests (marker `pods`); elsewhere they skip, saying why
    ensure_web_assets(session)
    session.install("-q", "-e", ".[test]")
    session.run("pytest", *(session.posargs or ["-q"]))


def _ports_free(session: nox.Session) -> None:
    """Refuse at once, before installing anything, when the stack's ports are taken."""
    import argparse
    import socket

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--api-port", type=int, default=30001)
    parser.add_argument("--web-port", type=int, default=30000)
    parser.add_argument("--host", default="127.0.0.1")
    wanted, _ = parser.parse_known_args(session.posargs)
    for port in (wanted.api_port, wanted.web_port):
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((wanted.host, port)) == 0:
                session.error(f"port {port} is in use (another `nox -s dev`?); stop it, or choose other ports: "
                              "nox -s dev -- --api-port 31001 --web-port 31000")


@nox.session
def dev(session: nox.Session) -> None:
    """The local stack with the demo conference: web client on :30000, API on :30001."""
    _ports_free(session)
    ensure_postgis(session)
    ensure_web_assets(session)
    session.install("-q", "-e", ".[local]")
    # Ctrl-C reaches both nox and the stack: give the stack time to stop its processes and database
    session.run("udaconnect", "dev", "--demo", *session.posargs, interrupt_timeout=60, terminate_timeout=10)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: `nox -s bench -- connections [--rows N ...]`, `-- scale --attendees N --days D`; results under
    bench-results/."""
    ensure_postgis(session)
    session.install("-q", "-e", ".[bench]")
    session.run("python", "-m", "udaconnect_dev.bench", *(session.posargs or ["connections"]))


def ensure_podman(session: nox.Session) -> None:
    """podman, buildah, runc and debootstrap (Debian's), which build the image and run the cluster's pods."""
    missing = [tool for tool in PODMAN if not shutil.which(tool)]
    if missing:
        apt_install(session, missing, "podman and buildah")


@nox.session
def image(session: nox.Session) -> None:
    """The image from Containerfile, built with buildah here (stand-in base images from Debian's packages, no
    registry), cached in podman's image store: prints its name and size."""
    ensure_podman(session)
    session.run("python", "-m", "udaconnect_dev.pods.images", env={"PYTHONPATH": str(ROOT / "functions")})


@nox.session
def pods(session: nox.Session) -> None:
    """The rendered overlays' pods run with podman as the kubelet would (tests/deploy/test_pods.py, marker
    `pods`; they run in `nox -s tests` too), and the cold start of every function target."""
    ensure_podman(session)
    session.install("-q", "-e", ".[test]")
    session.run("pytest", "-q", "-s", "-m", "pods", "tests/deploy", *session.posargs,
                env={"UDACONNECT_COLD_START_RUNS": "5"})


@nox.session
def lock(session: nox.Session) -> None:
    """requirements.lock: pyproject's runtime dependencies and its build backend (setuptools, for the image's
    editable install), each pinned with the sha256 of every file the index has for that version, resolved for
    the image's CPython 3.11 on Linux from wheels only (the Containerfile installs no sdist). Pins already in
    the file are kept: `nox -s lock -- --upgrade` (or `-- --upgrade-package NAME`) moves them. The same pins
    must resolve on arm64 (the production build's second platform, docs/cluster.md), or the session fails."""
    session.install("-q", "uv>=0.5")
    tmp = Path(session.create_tmp())
    build_system = tmp / "build-system.in"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    build_system.write_text("".join(f"{requirement}\n" for requirement in requires))
    python, platform = IMAGE_PYTHON

    def compile_for(platform: str, output: Path, *args: str) -> list[str]:
        # uv reads no pip.conf: it resolves from the index the image's pip installs from (PyPI), not from
        # local wheel folders; --native-tls trusts the system's certificates as pip does
        session.run("uv", "pip", "compile", "--quiet", "--native-tls", "--generate-hashes", "--no-build",
                    "--python-version", python, "--python-platform", platform,
                    "--custom-compile-command", "nox -s lock", "--output-file", str(output),
                    "pyproject.toml", str(build_system), *args)
        return [line for line in output.read_text().splitlines() if "==" in line]

    lock_file = ROOT / LOCK
    pins = compile_for(platform, lock_file, *session.posargs)
    lock_file.write_text(lock_file.read_text().replace(f"-r {build_system}", "pyproject.toml [build-system]"))
    arm64 = tmp / "arm64.lock"
    shutil.copy(lock_file, arm64)
    if (arm64_pins := compile_for("aarch64-unknown-linux-gnu", arm64)) != pins:
        session.error(f"arm64 resolves other pins: {sorted(set(arm64_pins) ^ set(pins))}")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy."""
    session.install("-q", "-e", ".[lint]")
    session.run("ruff", "check", "functions", "tests", "schema", "noxfile.py")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Render docs/architecture.png from docs/architecture.dot (Graphviz)."""
    if not shutil.which("dot"):
        apt_install(session, ["graphviz"], "Graphviz")
    session.run("dot", "-Tpng", "-Gdpi=110", "docs/architecture.dot", "-o", "docs/architecture.png", external=True)
