"""Where the signing key comes from: the environment (UDACONNECT_AUTH_SECRET or a mounted Secret's file) on the
cluster; on one machine, a random key the local stack makes once in its data directory (mode 0600)."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from udaconnect.settings import Settings

FILE = "auth-secret"


def local_secret(data_dir: Path) -> str:
    """The local stack's key under `data_dir`, made on first use, readable by its owner only."""
    path = data_dir / FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(value + "\n")
    return value


def with_key(settings: Settings) -> Settings:
    """`settings` with a signing key: its own, else the local stack's under its data directory."""
    if settings.auth_secret:
        return settings
    return dataclasses.replace(settings, auth_secret=local_secret(settings.data_dir))


def environment(settings: Settings) -> dict[str, str]:
    """What every process of a local stack needs to sign and check the same tokens as the others."""
    keyed = with_key(settings)
    return {"UDACONNECT_AUTH": keyed.auth, "UDACONNECT_AUTH_SECRET": keyed.auth_secret,
            "UDACONNECT_TOKEN_ISSUER": keyed.token_issuer, "UDACONNECT_TOKEN_AUDIENCE": keyed.token_audience}
