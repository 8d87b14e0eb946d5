"""Every third-party image the manifests run is fully qualified, pinned, maintained and published for amd64 and
arm64 (deploy/vagrant/clis.sh installs arm64 tools, so an arm64 VM must be able to run the whole system)."""

from __future__ import annotations

import re

from tests.deploy.conftest import containers

#: When the list below was checked, and against what. Re-check it when an image changes or a year has passed.
CHECKED = "2026-12-01"
#: image -> (architectures published, where that was read). Only images listed here may be deployed.
PUBLISHED = {
    # ImreSamu/docker-postgis README (Versions 2025-12-23): 15-3.6-bookworm "amd64 arm64", Dockerfile FROM
    # postgres:15-bookworm. postgis/postgis is absent on purpose: its README says "Supported architecture: amd64"
    # and its CI pushes from the x86 runner only; 15-3.4 is no longer built (3.4 became 3.5).
    "docker.io/imresamu/postgis:15-3.6-bookworm": ({"amd64", "arm64"}, "ImreSamu/docker-postgis README"),
    # nginx/docker-nginx-unprivileged .github/workflows/alpine-stable.yml: stable 1.30 (update.sh), platforms
    # linux/amd64, arm/v6, arm/v7, arm64, 386, ppc64le, riscv64, s390x, tags <major>.<minor>-alpine.
    "docker.io/nginxinc/nginx-unprivileged:1.30-alpine": ({"amd64", "arm64"}, "docker-nginx-unprivileged CI"),
}
#: The project's own image: built on the machine that runs it (buildah on the VM) or by the release build.
OWN = re.compile(r"(^|/)udaconnect:[\w.-]+$")
QUALIFIED = re.compile(r"^[a-z0-9.-]+(\.[a-z]+|:\d+)/[a-z0-9._/-]+:[\w.-]+$")


def images(docs: list[dict]) -> set[str]:
    out = set()
    for doc in docs:
        spec = doc.get("spec", {})
        if "template" in spec or "jobTemplate" in spec:
            out |= {c["image"] for c in containers(doc)}
    return out


def test_every_image_is_qualified_pinned_and_published_for_amd64_and_arm64(overlay) -> None:
    name, docs = overlay
    third_party = {image for image in images(docs) if not OWN.search(image)}
    assert third_party, name
    for image in third_party:
        assert QUALIFIED.match(image), f"{name}: {image} is not registry/name:tag (buildah refuses short names)"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d+\.\d+|\d+-\d", tag), f"{name}: {image} pins no version"
        assert image in PUBLISHED, f"{name}: {image} is not in the list checked on {CHECKED}: check its platforms"
        assert {"amd64", "arm64"} <= PUBLISHED[image][0], f"{name}: {image} is not published for arm64"


def test_the_checked_list_has_no_stale_entries(rendered) -> None:
    used = set().union(*(images(docs) for docs in rendered.values()))
    assert set(PUBLISHED) <= used, f"listed but deployed nowhere: {set(PUBLISHED) - used}"
