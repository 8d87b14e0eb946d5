"""The events layer's error tree: EventError, with InvalidEvent (not a valid CloudEvent) and WriteError (Kafka
did not take a record); third-party errors (the cloudevents SDK's, kafka-python's) are wrapped in these."""


class EventError(Exception):
    """Root of every error udaconnect.events raises."""


class InvalidEvent(EventError):
    """A request, a reply or a record is not a valid CloudEvent."""


class WriteError(EventError):
    """Kafka did not acknowledge a record."""
