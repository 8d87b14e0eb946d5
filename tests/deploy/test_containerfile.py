"""The Containerfile, read rather than built (no container engine here): base, user, layers, sources, command."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex

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
    assert froms == ["docker.io/library/python:3.11-slim"]


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

    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY"]
    assert copies
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), f"COPY {source}: missing in the repository"
            assert included(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    steps = instructions()
    copies = [(i, rest) for i, (keyword, rest) in enumerate(steps) if keyword == "COPY"]
    first_code = next(i for i, rest in copies if rest.startswith("functions"))
    deps = next(i for i, (keyword, rest) in enumerate(steps) if keyword == "RUN" and "pip install -r" in rest)
    assert copies[0][1].startswith("pyproject.toml") and copies[0][0] < deps < first_code


def test_the_image_copies_functions_and_migrations_but_not_eventing() -> None:
    sources = {shlex.split(rest)[0].rstrip("/") for keyword, rest in instructions() if keyword == "COPY"}
    assert {"functions", "schema", "pyproject.toml"} <= sources
    assert "eventing" not in sources


def test_the_command_serves_the_target_chosen_by_env_on_port_8080() -> None:
    steps = dict(instructions())
    assert "8080" in steps["EXPOSE"].split()
    assert re.search(r"\bPORT=8080\b", dict((k, v) for k, v in instructions() if k == "ENV")["ENV"])
    command = " ".join(json.loads(steps["CMD"]))
    assert "functions-framework --source functions/main.py" in command
    assert '--target "${FUNCTION_TARGET' in command and '--port "${PORT' in command
