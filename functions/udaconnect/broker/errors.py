"""The broker's error tree."""


class BrokerError(Exception):
    """Root of every error the local broker raises."""


class ConfigError(BrokerError):
    """The eventing/ objects are invalid or refer to something that does not exist."""


class FilterError(ConfigError):
    """A Trigger filter (including a CESQL expression) cannot be compiled."""


class InvalidEvent(BrokerError):
    """A request or a record is not a valid CloudEvent."""


class WriteError(BrokerError):
    """Kafka did not acknowledge a record."""
