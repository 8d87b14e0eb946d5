"""Announce directory changes on the broker: io.udaconnect.person.created.v1 and .deleted.v1, written to the outbox
with the change.

The event is built (and its id fixed) before the commit and inserted in the person's transaction; after the
commit persons publishes it at once, and whatever the broker did not take is relayed later (udaconnect.events.outbox).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from udaconnect.contracts.api import Person
from udaconnect.events import Event


def person_created(person: Person) -> Event:
    """The event announcing `person`; a re-publish from the outbox is this same event (same source and id)."""
    from udaconnect.contracts.events import PERSON_CREATED, PERSONS_SOURCE, PersonCreated

    return Event({"specversion": "1.0", "id": str(uuid.uuid4()), "source": PERSONS_SOURCE, "type": PERSON_CREATED,
                  "subject": str(person.id), "datacontenttype": "application/json", "partitionkey": str(person.id)},
                 PersonCreated.model_validate(person.model_dump()).model_dump_json().encode())


def person_deleted(person_id: int, erased_at: datetime) -> Event:
    """The event announcing that `person_id` was erased (consumers holding copies of their data drop them)."""
    from udaconnect.contracts.events import PERSON_DELETED, PERSONS_SOURCE, PersonDeleted

    return Event({"specversion": "1.0", "id": str(uuid.uuid4()), "source": PERSONS_SOURCE, "type": PERSON_DELETED,
                  "subject": str(person_id), "datacontenttype": "application/json", "partitionkey": str(person_id)},
                 PersonDeleted(person_id=person_id, erased_at=erased_at).model_dump_json().encode())
