"""The broker's error tree; InvalidEvent and WriteError are udaconnect.events' (its bindings and writer raise them)."""

from udaconnect.events.errors import InvalidEvent, WriteError

__all__ = ["BrokerError", "ConfigError", "FilterError", "InvalidEvent", "WriteError"]


class BrokerError(Exception):
    """Root of every error the local broker raises."""


class ConfigError(BrokerError):
    """The eventing/ objects are invalid or refer to something that does not exist."""


class FilterError(ConfigError):
    """A Trigger filter cannot be compiled, or uses a dialect the local broker refuses (cesql)."""

