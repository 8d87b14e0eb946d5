"""The audit log: every read of a person's data by someone else (an organizer), written before the read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from udaconnect.auth.policy import reads_someone_else
from udaconnect.auth.tokens import Principal
from udaconnect.storage.tables import audit_log


def record(engine: Engine, principal: Principal, action: str, person_id: int | None, detail: str = "") -> None:
    """Log `principal` doing `action` on `person_id`'s data when that is someone else's data (an organizer's read)."""
    if not reads_someone_else(principal, person_id):
        return
    with engine.begin() as conn:
        conn.execute(insert(audit_log).values(actor=principal.subject, action=action, person_id=person_id,
                                              detail=detail[:500]))


def entries(engine: Engine, person_id: int | None = None, since: datetime | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` entries, optionally about one person and from a time on."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if person_id is not None:
        query = query.where(audit_log.c.person_id == person_id)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
