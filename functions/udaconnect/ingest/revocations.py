"""Revoked devices, known to ingest within seconds and without a database: ingest has no credentials.

A device's token is valid until it expires, so ingest keeps the set of revoked device ids and refuses them (401).
The set comes from the persons function (`GET /api/devices/revoked?since=`), asked with ingest's service credential
(UDACONNECT_REVOCATIONS_TOKEN_FILE: a `service` token the issuer made for this one route, read again at each refresh
so a renewed Secret needs no restart; ingest holds no signing key and no organizer token), refreshed in the
background at most every REFRESH seconds while requests arrive (a function scaled to zero asks nothing). Each
refresh asks for what was revoked after the last answer's `until`, less OVERLAP (a revocation committed late is
not missed).

So a revoked device gets 401 from ingest within about REFRESH seconds, plus one round trip. Until then, and
whenever persons cannot be reached (logged; the old set is kept), persist still drops a revoked device's reports
in the transaction that would store them (udaconnect.persist.store): the set is a fast path, not the guarantee.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from udaconnect.errors import FieldError, Unauthorized
from udaconnect.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two refreshes of the set; the most a revocation takes to reach ingest (plus a round trip).
REFRESH = 5.0
#: How far back each refresh asks again, past the last answer's `until`.
OVERLAP = timedelta(seconds=60)
TIMEOUT = 5.0


class Revocations:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.revoked: set[str] = set()
        self.until: datetime | None = None
        self.refreshed = 0  # successful refreshes, for tests and logs
        self._last = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def check(self, device_id: str | None) -> None:
        """Unauthorized when `device_id` is known revoked; a refresh started in the background when one is due."""
        if device_id is None or not self.settings.persons_url:
            return
        now = time.monotonic()
        if self._task is None and now - self._last >= REFRESH:
            self._last = now
            self._task = asyncio.get_running_loop().create_task(self._refresh())
        if device_id in self.revoked:
            raise Unauthorized("this device was revoked: enrol it again",
                               [FieldError("Authorization", "revoked device")])

    async def _refresh(self) -> None:
        try:
            answer = await self._fetch()
            self.revoked.update(answer["revoked"])
            self.until = datetime.fromisoformat(answer["until"])
            self.refreshed += 1
        except Exception as error:  # noqa: BLE001 - any failure keeps the old set; persist still checks
            log.warning("could not refresh the revoked devices from %s: %s", self.settings.persons_url, error)
        finally:
            self._task = None

    async def _fetch(self) -> Any:
        if not self.settings.revocations_token_file:
            raise RuntimeError("UDACONNECT_REVOCATIONS_TOKEN_FILE is unset: no credential for the revocation feed")
        token = Path(self.settings.revocations_token_file).read_text().strip()
        params = {"since": (self.until - OVERLAP).isoformat()} if self.until is not None else {}
        reply = await _client().get(self.settings.persons_url.rstrip("/") + "/api/devices/revoked", params=params,
                                    headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        reply.raise_for_status()
        return reply.json()


@lru_cache(maxsize=1)
def _client() -> Any:
    import httpx2

    return httpx2.AsyncClient(trust_env=False)


@lru_cache(maxsize=4)
def for_settings(settings: Settings) -> Revocations:
    """One set per process (per settings)."""
    return Revocations(settings)
