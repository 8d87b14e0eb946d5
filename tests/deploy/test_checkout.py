"""A checkout on any host, Windows included, gives the VM what it runs with LF line ends and no reliance on
the executable bit (a synced folder from Windows keeps neither CRLF-free text nor modes)."""

from __future__ import annotations

import re
import subprocess

from udaconnect.settings import PROJECT_ROOT

#: What the VM reads from the synced folder: scripts, Vagrantfile, manifests, func.yaml, the Containerfile.
RUN_IN_THE_VM = ("Vagrantfile", "Containerfile", "func.yaml", "deploy/vagrant/*.sh", "deploy/vagrant/*.yml",
                 "manifests/**/*.yaml", "manifests/**/*.properties", "eventing/*.yaml", "scripts/*.sh")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout


def test_files_the_vm_runs_are_checked_out_with_lf_everywhere() -> None:
    paths = git("ls-files", "--", *RUN_IN_THE_VM).split()
    assert "deploy/vagrant/provision.sh" in paths and "Vagrantfile" in paths
    # core.autocrlf=true (Git for Windows' default) converts text to CRLF unless an attribute says eol=lf.
    attributes = git("check-attr", "text", "eol", "--", *paths)
    eol = dict(re.findall(r"^(\S+): eol: (\S+)$", attributes, re.M))
    text = dict(re.findall(r"^(\S+): text: (\S+)$", attributes, re.M))
    wrong = [p for p in paths if eol.get(p) != "lf" or text.get(p) in ("unset", "unspecified")]
    assert wrong == [], f"no eol=lf in .gitattributes for {wrong[:5]}"


def test_no_committed_text_file_has_crlf() -> None:
    rows = [line.split() for line in git("ls-files", "--eol").splitlines()]
    crlf = [row[-1] for row in rows if row[0] in ("i/crlf", "i/mixed")]
    assert crlf == []


def test_provisioning_runs_its_steps_through_bash_not_their_mode() -> None:
    vagrantfile = (PROJECT_ROOT / "Vagrantfile").read_text()
    assert 'inline: "bash /vagrant/deploy/vagrant/provision.sh"' in vagrantfile
    provision = (PROJECT_ROOT / "deploy" / "vagrant" / "provision.sh").read_text()
    steps = re.findall(r'^(.*)"\$SCRIPT_DIR/(\w[\w-]*\.sh)"$', provision, re.M)
    assert len(steps) == 7 and all(prefix == "bash " for prefix, _ in steps), steps
