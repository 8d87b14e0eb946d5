"""Announce directory changes on the broker: io.udaconnect.person.created.v1, written to the outbox with the person.

The event is built (and its id fixed) before the commit and inserted in the person's transaction; after the
commit persons publishes it at once, and whatever the broker did not take is relayed later (udaconnect.outbox).
"""

from __future__ import annotations

import uuid

from udaconnect.broker.event import Event
from udaconnect.contracts.api import Person


def person_created(person: Person) -> Event:
    """The event announcing `person`; a re-publish from the outbox is this same event (same source and id)."""
    from udaconnect.contracts.events import PERSON_CREATED, PERSONS_SOURCE, PersonCreated

    return Event({"specversion": "1.0", "id": str(uuid.uuid4()), "source": PERSONS_SOURCE, "type": PERSON_CREATED,
                  "subject": str(person.id), "datacontenttype": "application/json", "partitionkey": str(person.id)},
                 PersonCreated.model_validate(person.model_dump()).model_dump_json().encode())
