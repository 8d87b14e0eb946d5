"""CloudEvents in UdaConnect: the event and its rules (event), the HTTP and Kafka bindings on the cloudevents SDK
(http_binding, kafka_binding), the one kafka-python adapter (kafka_client), the publishers (publisher,
kafka_publisher) and the transactional outbox (outbox). Importing the package loads the event alone."""

from udaconnect.events.errors import EventError, InvalidEvent, WriteError
from udaconnect.events.event import Event, validated

__all__ = ["Event", "EventError", "InvalidEvent", "WriteError", "validated"]
