"""The local Knative Kafka broker data plane, driven by the objects in eventing/.

Errors: ConfigError (eventing/ cannot be obeyed), InvalidEvent (not a valid CloudEvent),
FilterError (a Trigger filter cannot be compiled), WriteError (Kafka did not take a record).
"""

from udaconnect_dev.broker.errors import BrokerError, ConfigError, FilterError, InvalidEvent, WriteError

__all__ = ["BrokerError", "ConfigError", "FilterError", "InvalidEvent", "WriteError"]
