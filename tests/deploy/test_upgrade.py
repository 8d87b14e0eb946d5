"""A production upgrade is `kubectl apply -k` with a new image tag: nothing it applies may change an immutable
field of an object the previous release created (a Job's pod template above all)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.deploy.conftest import Doc, render

OVERLAY = Path("manifests") / "overlays" / "production"


def render_with_tag(kubectl: str, workspace: Path, tmp_path: Path, tag: str) -> list[Doc]:
    copy = tmp_path / tag
    shutil.copytree(workspace, copy)
    kustomization = copy / OVERLAY / "kustomization.yaml"
    text, count = re.subn(r"(?m)^(\s+newTag:) \S+$", rf"\1 {tag}", kustomization.read_text())
    assert count == 1
    kustomization.write_text(text)
    return render(kubectl, copy / OVERLAY)


def test_the_migration_job_survives_a_new_image_tag(kubectl: str, workspace: Path, tmp_path: Path) -> None:
    before = render_with_tag(kubectl, workspace, tmp_path, "0.1.0")
    after = render_with_tag(kubectl, workspace, tmp_path, "0.2.0")
    jobs = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in before if d["kind"] == "Job"}
    assert jobs
    for doc in after:
        if doc["kind"] != "Job":
            continue
        old = jobs.get((doc["metadata"]["namespace"], doc["metadata"]["name"]))
        # Same name, so `kubectl apply` patches the existing Job: its pod template must not have changed.
        assert old is None or old["spec"]["template"] == doc["spec"]["template"], \
            f"Job {doc['metadata']['name']}: the pod template changes with the tag, apply would be refused"
    new = [d for d in after if d["kind"] == "Job"]
    assert [d["metadata"]["name"] for d in new] == ["udaconnect-migrate-0.2.0"]
    assert new[0]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.2.0")
