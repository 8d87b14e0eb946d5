"""Bearer tokens for tests: signed with the test session's Ed25519 key (TEST_KEYS, a key directory made once per
test process), whose JWKS every function started by a test reads from UDACONNECT_AUTH_JWKS_FILE."""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import timedelta
from pathlib import Path

from udaconnect.auth import issue, keys
from udaconnect.settings import Settings

#: The test session's key directory (not a secret: its key signs tokens for throwaway databases only).
TEST_KEYS = Path(tempfile.mkdtemp(prefix="udaconnect-test-keys-"))
keys.rotate(TEST_KEYS)
#: The test session's delivery key (udaconnect.events.proof): ingest proves the reports it accepts, persist checks.
DELIVERY_KEY = TEST_KEYS / "delivery-key"
DELIVERY_KEY.write_text("test-delivery-key-" + "0" * 32 + "\n")
#: What a process needs to check the test session's tokens (a verifier), and the delivery key (in-process tests
#: run ingest and persist) ...
VERIFIER_ENV = {"UDACONNECT_AUTH_JWKS_FILE": str(TEST_KEYS / keys.JWKS), "UDACONNECT_AUTH_SIGNING_KEY_FILE": "",
                "UDACONNECT_DELIVERY_KEY_FILE": str(DELIVERY_KEY)}
#: ... and to sign them too (the issuer).
ISSUER_ENV = {**VERIFIER_ENV, "UDACONNECT_AUTH_SIGNING_KEY_FILE": str(TEST_KEYS / keys.SIGNING_KEY)}


def keyed(settings: Settings | None = None) -> Settings:
    """`settings` (default: the defaults) with the test session's keys, to sign and to check."""
    return dataclasses.replace(settings or Settings(), auth_jwks_file=ISSUER_ENV["UDACONNECT_AUTH_JWKS_FILE"],
                               auth_signing_key_file=ISSUER_ENV["UDACONNECT_AUTH_SIGNING_KEY_FILE"])


def token(settings: Settings | None = None, role: str = "organizer", person_id: int | None = None,
          device_id: str | None = None, ttl: float = 3600) -> str:
    signer = settings if settings is not None and settings.auth_signing_key_file else keyed(settings)
    return issue(signer, role, person_id=person_id, device_id=device_id, ttl=timedelta(seconds=ttl))


def headers(settings: Settings | None = None, role: str = "organizer", person_id: int | None = None,
            device_id: str | None = None) -> dict[str, str]:
    """{"Authorization": "Bearer <token>"} for `role`."""
    return {"Authorization": f"Bearer {token(settings, role, person_id, device_id)}"}


def stranger(settings: Settings | None = None) -> Settings:
    """`settings` with keys of their own that no test function trusts (to forge a token with)."""
    directory = Path(tempfile.mkdtemp(prefix="udaconnect-stranger-keys-"))
    keys.rotate(directory)
    return dataclasses.replace(settings or Settings(), auth_jwks_file=str(directory / keys.JWKS),
                               auth_signing_key_file=str(directory / keys.SIGNING_KEY))


def proved(headers: dict[str, str], body: bytes, reported_by: str = "organizer",
           key: Path | None = None) -> dict[str, str]:
    """Binary-mode `headers` of a report with ingest's delivery proof, as ingest would send it on (an organizer's
    import by default: any source), signed with the test session's delivery key (or `key`)."""
    from udaconnect.events import proof

    attributes = {k[3:].lower(): v for k, v in headers.items() if k.lower().startswith("ce-")}
    stamped = proof.stamped(proof.read_key(key or DELIVERY_KEY), attributes, body, reported_by)
    return {**{k: v for k, v in headers.items() if not k.lower().startswith("ce-")},
            **{f"ce-{k}": v for k, v in stamped.items()}}
