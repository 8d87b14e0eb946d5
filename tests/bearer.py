"""Bearer tokens for tests: signed with the test session's key (TEST_SECRET), the same one every function
started by a test reads from UDACONNECT_AUTH_SECRET."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from udaconnect.auth import issue
from udaconnect.settings import Settings

#: The test session's signing key (not a secret: it signs tokens for throwaway databases only).
TEST_SECRET = "test-session-key-" + "0" * 32


def token(settings: Settings | None = None, role: str = "organizer", person_id: int | None = None,
          device_id: str | None = None, ttl: float = 3600) -> str:
    keyed = settings if settings is not None and settings.auth_secret else dataclasses.replace(
        settings or Settings(), auth_secret=TEST_SECRET)
    return issue(keyed, role, person_id=person_id, device_id=device_id, ttl=timedelta(seconds=ttl))


def headers(settings: Settings | None = None, role: str = "organizer", person_id: int | None = None,
            device_id: str | None = None) -> dict[str, str]:
    """{"Authorization": "Bearer <token>"} for `role`."""
    return {"Authorization": f"Bearer {token(settings, role, person_id, device_id)}"}
