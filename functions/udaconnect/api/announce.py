"""Announce directory changes on the broker: io.udaconnect.person.created.v1 after a person is committed.

No outbox: the person is committed first; if the broker cannot take the event it is logged (with the person)
and the API still answers 201, because the person exists. Consumers needing every person read the table.
"""

from __future__ import annotations

import logging
import uuid

from udaconnect.contracts.api import Person
from udaconnect.settings import Settings

log = logging.getLogger(__name__)


def person_created(person: Person, settings: Settings) -> bool:
    """Publish the event; False (logged) when no broker is configured or it failed."""
    from udaconnect import publisher
    from udaconnect.broker.event import Event
    from udaconnect.contracts.events import PERSON_CREATED, PERSONS_SOURCE, PersonCreated
    from udaconnect.errors import InfrastructureError

    if not (settings.broker_url if settings.publisher == "http" else settings.kafka_bootstrap_servers):
        log.debug("no broker configured: person %s not announced", person.id)
        return False
    event = Event({"specversion": "1.0", "id": str(uuid.uuid4()), "source": PERSONS_SOURCE, "type": PERSON_CREATED,
                   "subject": str(person.id), "datacontenttype": "application/json", "partitionkey": str(person.id)},
                  PersonCreated.model_validate(person.model_dump()).model_dump_json().encode())
    try:
        publisher.for_settings(settings).publish([event])
    except InfrastructureError as error:
        log.error("person %s created but %s not published: %s", person.model_dump(), PERSON_CREATED, error)
        return False
    return True
