"""No secret value is committed: Secrets come from git-ignored env files at deploy time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from tests.deploy.conftest import MANIFESTS, find

from udaconnect.settings import PROJECT_ROOT

#: Env names that carry secrets; their values in the repo must be empty or references.
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
#: A URL with an inline password that is not a $(VAR) / {{ }} reference.
URL_WITH_PASSWORD = re.compile(r"://[^:/\s$]+:(?!\$\()[^@\s$]+@")


def tracked(*patterns: str) -> list[Path]:
    result = subprocess.run(["git", "ls-files", "--", *patterns], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, check=True)
    return [PROJECT_ROOT / line for line in result.stdout.splitlines()]


def committed_yaml() -> list[Path]:
    paths = {p for p in (MANIFESTS.rglob("*.y*ml"))} | {p for p in (PROJECT_ROOT / "eventing").glob("*.y*ml")}
    paths.add(PROJECT_ROOT / "func.yaml")
    return sorted(p for p in paths if p.exists())


def test_no_env_file_is_committed() -> None:
    assert [p.name for p in tracked("*.env", "**/*.env")] == []
    assert subprocess.run(["git", "check-ignore", "-q", "manifests/overlays/vagrant/db.env"],
                          cwd=PROJECT_ROOT).returncode == 0


def test_env_examples_name_variables_without_values() -> None:
    examples = list(MANIFESTS.rglob("*.env.example"))
    assert examples
    for example in examples:
        for line in example.read_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                assert value == "", f"{example.name}: {name} has a value"


def test_no_secret_object_carries_data_in_the_repo() -> None:
    for path in committed_yaml():
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), f"{path}: a Secret with values"


def _values(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                yield str(key), value
            yield from _values(value)
        if "name" in node and isinstance(node.get("value"), str):
            yield str(node["name"]), node["value"]
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)


def test_no_secret_looking_values_in_committed_yaml() -> None:
    for path in committed_yaml():
        for doc in yaml.safe_load_all(path.read_text()):
            for key, value in _values(doc):
                assert not URL_WITH_PASSWORD.search(value), f"{path}: {key} holds a URL with a password"
                # A key that names a Secret (the Kafka broker's auth.secret.ref.name, a volume's secretName,
                # func.yaml's volume `secret`) holds no secret itself; nor does a *_FILE setting naming where a
                # mounted Secret's file is.
                if SECRET_NAME.search(key) and value and not key.endswith(".ref.name") \
                        and key not in ("secretName", "secret") \
                        and not (key.endswith("_FILE") and value.startswith("/etc/udaconnect/")):
                    assert value.startswith(("{{ secret:", "$(")), f"{path}: {key} has a literal value"


def test_the_rendered_secret_comes_only_from_the_generator(rendered) -> None:
    for name in ("vagrant", "production"):
        secrets = find(rendered[name], "Secret")
        names = sorted(s["metadata"]["name"] for s in secrets)
        # production's database is external, verified with its CA (udaconnect-db-ca); vagrant's is in the cluster
        assert names == ["udaconnect-auth-jwks", "udaconnect-auth-signing", "udaconnect-db",
                         *(["udaconnect-db-ca"] if name == "production" else []), "udaconnect-db-roles",
                         "udaconnect-delivery-key", "udaconnect-ingest-credential"], name
        # The placeholders the test wrote, so the values can only have come from the git-ignored env files.
        owner = find(secrets, "Secret", "udaconnect-db")[0]
        assert set(owner["data"]) == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def test_the_secret_detector_finds_a_password() -> None:
    assert URL_WITH_PASSWORD.search("postgresql://user:hunter2@db:5432/x")
    assert not URL_WITH_PASSWORD.search("postgresql://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@$(DATABASE_HOST)/x")
