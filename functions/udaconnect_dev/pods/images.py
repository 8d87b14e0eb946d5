"""The images the cluster's pods run, built here with buildah and no registry, cached between runs.

The UdaConnect image is built from the repository's own Containerfile, unchanged. Its base images, and the
images of the pods around it (PostGIS, the edge's nginx), cannot be pulled on these machines, so stand-ins
named exactly as the manifests name them are made from Debian's packages: a `debootstrap --variant=minbase
bookworm` root filesystem imported with `podman import`, then one small Containerfile each (standins/).

Cache: podman's own image store (/var/lib/containers, outside every clone) holds them; each image carries a
label with the hash of what it was built from, and an image whose label matches is not rebuilt. A fresh clone
on the same machine (CI) therefore builds nothing once one run has built them. The UdaConnect image is tagged
with the hash of the files its Containerfile copies, so two worktrees never overwrite each other's image.

    python -m udaconnect_dev.pods.images          # build what is missing, print the UdaConnect image's name
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
CONTAINERS_CONF = HERE / "containers.conf"
LABEL = "io.udaconnect.recipe"
DEBIAN = "localhost/udaconnect-standin/debian:bookworm"
APP = "localhost/udaconnect"
#: image name in the manifests and the Containerfile -> its recipe under standins/
STANDINS = {
    "docker.io/library/python:3.11-slim": "python.Containerfile",
    "docker.io/library/node:20-slim": "node.Containerfile",
    "docker.io/imresamu/postgis:15-3.6-bookworm": "postgis.Containerfile",
    "docker.io/nginxinc/nginx-unprivileged:1.30-alpine": "nginx.Containerfile",
}
#: what the Containerfile copies (with .dockerignore's exclusions): the app image's cache key
APP_INPUTS = ("Containerfile", ".dockerignore", "pyproject.toml", "requirements.lock", "package.json",
              "package-lock.json", "functions/main.py", "functions/udaconnect", "schema")
DEBIAN_PACKAGES = ["podman", "buildah", "runc", "debootstrap"]
#: trimmed from the root filesystem: the official slim images carry none of it
TRIM = ("var/cache/apt/*", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*", "usr/share/locale/*",
        "usr/share/info/*")


class ImageError(RuntimeError):
    """A build failed; the message carries the tool's own output."""


def environ() -> dict[str, str]:
    """The environment podman and buildah run with: this machine's working configuration (containers.conf)."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def cache_dir() -> Path:
    default = Path("/var/cache/udaconnect") if os.geteuid() == 0 else Path.home() / ".cache" / "udaconnect"
    path = Path(os.environ.get("UDACONNECT_IMAGE_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def missing_tools() -> list[str]:
    return [tool for tool in DEBIAN_PACKAGES if not shutil.which(tool)]


def _run(args: list[str], *, quiet: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=environ(), text=True, capture_output=quiet, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or ""))[-4000:]
        raise ImageError(f"{' '.join(args[:3])} ... failed ({result.returncode}):\n{output}")
    return result


def label_of(image: str) -> str | None:
    """The recipe hash an image was built from, None when the image is absent."""
    result = subprocess.run(["podman", "image", "inspect", "--format", f'{{{{ index .Labels "{LABEL}" }}}}', image],
                            env=environ(), text=True, capture_output=True)
    return result.stdout.strip() if result.returncode == 0 else None


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _files(root: Path, inputs: tuple[str, ...]) -> Iterator[Path]:
    for name in inputs:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                              and not p.name.endswith(".pyc") and ".egg-info" not in str(p))


def app_key(root: Path = ROOT) -> str:
    return _digest(*(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() for p in _files(root, APP_INPUTS)))


def app_image(root: Path = ROOT) -> str:
    return f"{APP}:{app_key(root)}"


def _mirror() -> str:
    """The Debian mirror apt already uses here (deb822 or one-line sources)."""
    for source in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if source.exists():
            for line in source.read_text().splitlines():
                words = line.split()
                if line.startswith("URIs:") and len(words) > 1 and "security" not in words[1]:
                    return words[1]
                if line.startswith("deb ") and len(words) > 1 and "security" not in line:
                    return words[2] if words[1].startswith("[") else words[1]
    return "http://deb.debian.org/debian"


def _local_cas() -> list[Path]:
    """The machine's own CA certificates (e.g. a TLS-inspecting proxy's), which builds inside need too."""
    return sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))


def debian_key() -> str:
    return _digest(b"minbase bookworm ca-certificates v1", _mirror().encode(), *(p.read_bytes() for p in _local_cas()))


def build_debian(log: Path) -> None:
    key = debian_key()
    if label_of(DEBIAN) == key:
        return
    with tempfile.TemporaryDirectory(prefix="udaconnect-rootfs-", dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        with log.open("a") as out:
            subprocess.run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm",
                            str(rootfs), _mirror()], check=True, stdout=out, stderr=subprocess.STDOUT)
        for ca in _local_cas():
            shutil.copy(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
        subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True)
        subprocess.run(["sh", "-c", "cd " + str(rootfs) + " && rm -rf " + " ".join(TRIM)], check=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _run(["podman", "import", "--change", f"LABEL {LABEL}={key}",
              "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "--change", 'CMD ["bash"]', "-", DEBIAN], stdin=tar.stdout)
        tar.wait()


def _bud(containerfile: Path, context: Path, tag: str, key: str, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"\n== buildah bud {tag} ({containerfile})\n")
        out.flush()
        result = subprocess.run(
            ["buildah", "bud", "--runtime", "runc", "--network", "host", "--layers", "--pull=never",
             "--label", f"{LABEL}={key}", "-f", str(containerfile), "-t", tag, str(context)],
            env=environ(), stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise ImageError(f"buildah bud {tag} failed; the build's output is in {log}:\n{log.read_text()[-3000:]}")


def build_standins(log: Path) -> None:
    build_debian(log)
    base = debian_key()
    for image, recipe in STANDINS.items():
        path = HERE / "standins" / recipe
        key = _digest(base.encode(), *(p.read_bytes() for p in sorted((HERE / "standins").iterdir())
                                       if p.name == recipe or not p.name.endswith(".Containerfile")))
        if label_of(image) != key:
            _bud(path, HERE / "standins", image, key, log)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One build at a time on this machine (worktrees and CI share the image store)."""
    with (cache_dir() / "images.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(root: Path = ROOT, *, log: Path | None = None) -> str:
    """Every image the pods need, built when missing or out of date; the UdaConnect image's name."""
    if missing := missing_tools():
        raise ImageError(f"missing {', '.join(missing)}: apt-get install -y {' '.join(DEBIAN_PACKAGES)}")
    log = log or cache_dir() / "build.log"
    with _locked():
        build_standins(log)
        tag, key = app_image(root), app_key(root)
        if label_of(tag) != key:
            _bud(root / "Containerfile", root, tag, key, log)
    return tag


def size_mb(image: str) -> float:
    out = _run(["podman", "image", "inspect", "--format", "{{.Size}}", image]).stdout
    return int(out.strip()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.pods.images", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    started = time.monotonic()
    try:
        image = build()
    except (ImageError, subprocess.CalledProcessError) as error:
        print(error, file=sys.stderr)
        return 1
    base = size_mb("docker.io/library/python:3.11-slim")
    print(f"{image}: {size_mb(image):.0f} MB (stand-in base python:3.11-slim {base:.0f} MB), "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
