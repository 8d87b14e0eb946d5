"""One config path: every variable is a Settings field (or declared tooling), read by from_env alone, and the
README's table is generated from them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from udaconnect import settings as module
from udaconnect.settings import PROJECT_ROOT, Settings

PACKAGE = PROJECT_ROOT / "functions" / "udaconnect"
#: Dev tooling may read the environment for its own needs (its variables are in settings.TOOLING), and the
#: embedded PostgreSQL hands its subprocess a cleaned copy of it.
TOOLING = ("broker", "bench", "localstack.py", "simulator.py", "settings.py", "storage/embedded.py")


class Recording(Mapping[str, str]):
    """An environment that remembers which names were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.asked = values, set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.values[key]

    def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
        self.asked.add(key)
        return self.values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def test_the_readme_table_is_generated_from_settings() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert module.readme_with_table(readme) == readme, "stale: run `python -m udaconnect.settings` in functions/"


def test_every_field_names_its_variable_and_says_what_it_is() -> None:
    names = [f.metadata.get("env") for f in dataclasses.fields(Settings)]
    assert all(names) and len(set(names)) == len(names)
    assert all(len(f.metadata["doc"]) > 10 for f in dataclasses.fields(Settings))


def test_from_env_reads_only_declared_variables() -> None:
    env = Recording({"UDACONNECT_UPSTREAM_PERSONS": "http://p", "UDACONNECT_GATEWAY_TIMEOUT": "2"})
    found = Settings.from_env(env)
    declared = {name for name, _, _ in module.variables()}
    assert {name for name in env.asked if not name.startswith(module.UPSTREAM_PREFIX)} <= declared
    assert (found.persons_url, found.upstream("PERSONS"), found.gateway_timeout) == ("http://p", "http://p", 2.0)


def test_every_default_is_the_fields_own() -> None:
    assert Settings.from_env({}) == Settings()


def test_values_are_parsed_and_checked() -> None:
    found = Settings.from_env({"UDACONNECT_DB_POOL_SIZE": "3", "UDACONNECT_DATA_DIR": "/x", "UDACONNECT_AUTH": " OPEN",
                               "UDACONNECT_MAX_FIXES": "9999", "UDACONNECT_CORS_ORIGINS": "https://a.example.org/"})
    assert (found.pool_size, found.data_dir, found.open, found.max_fixes, found.cors_origins) == (
        3, Path("/x"), True, 500, ("https://a.example.org",))
    for bad in ({"UDACONNECT_AUTH": "off"}, {"UDACONNECT_RETENTION_DAYS": "0"}, {"UDACONNECT_DB_POOL_SIZE": "x"}):
        with pytest.raises(ValueError):
            Settings.from_env(bad)


def _runtime() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not any(str(p.relative_to(PACKAGE)).startswith(t) for t in TOOLING))


@pytest.mark.parametrize("path", [*_runtime(), PROJECT_ROOT / "functions" / "main.py"],
                         ids=lambda p: str(p.relative_to(PROJECT_ROOT / "functions")))
def test_the_runtime_reads_the_environment_through_settings_only(path: Path) -> None:
    reads = re.findall(r"os\.environ|getenv\(", path.read_text())
    assert not reads, f"{path.name} reads the environment itself: add a Settings field instead"


def test_an_external_issuer_without_an_audience_is_refused_at_start() -> None:
    """Issue 22: an OIDC issuer's tokens are made for many relying parties, so UdaConnect's audience is required;
    a function started without one fails at once, with the variable named, before it serves a request."""
    import os
    import subprocess
    import sys

    issuer = {"UDACONNECT_OIDC_ISSUER": "https://id.example.org/realms/conf"}
    with pytest.raises(ValueError, match="UDACONNECT_OIDC_AUDIENCE must be set with UDACONNECT_OIDC_ISSUER"):
        Settings.from_env(issuer)
    assert Settings.from_env({**issuer, "UDACONNECT_OIDC_AUDIENCE": "udaconnect"}).oidc_audience == "udaconnect"
    assert Settings.from_env({}).oidc_issuer == ""  # no issuer: nothing required
    started = subprocess.run([sys.executable, "-c", "import main"], cwd=PROJECT_ROOT / "functions",
                             env={**os.environ, **issuer}, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "UDACONNECT_OIDC_AUDIENCE must be set" in started.stderr
    with_audience = subprocess.run([sys.executable, "-c", "import main"], cwd=PROJECT_ROOT / "functions",
                                   env={**os.environ, **issuer, "UDACONNECT_OIDC_AUDIENCE": "udaconnect"},
                                   capture_output=True, text=True, timeout=60)
    assert with_audience.returncode == 0, with_audience.stderr
