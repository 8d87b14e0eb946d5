"""The eventing/ objects the local broker obeys, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from udaconnect.settings import broker_topic

BROKER_CLASS_ANNOTATION = "eventing.knative.dev/broker.class"
DELIVERY_ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order"


@dataclass(frozen=True)
class Reference:
    """A KReference (apiVersion, kind, name, namespace)."""

    kind: str
    name: str
    namespace: str
    api_version: str = ""


@dataclass(frozen=True)
class Destination:
    """A Knative Destination: a ref, a uri, or a ref plus a uri relative to it."""

    ref: Reference | None = None
    uri: str = ""


@dataclass(frozen=True)
class Delivery:
    """A DeliverySpec; None means "not set here" so a Trigger can inherit from its Broker field by field."""

    retry: int | None = None
    backoff_policy: str | None = None  # "linear" | "exponential"
    backoff_delay: float | None = None  # seconds
    timeout: float | None = None  # seconds, per attempt
    dead_letter_sink: Destination | None = None

    def merged_over(self, defaults: Delivery | None) -> Delivery:
        """This delivery with unset fields taken from `defaults` (the Broker's)."""
        if defaults is None:
            return self
        return replace(
            self,
            **{name: getattr(defaults, name) for name in self.__dataclass_fields__ if getattr(self, name) is None},
        )


@dataclass(frozen=True)
class BrokerSpec:
    name: str
    namespace: str
    broker_class: str
    partitions: int = 1
    replication_factor: int = 1
    bootstrap_servers: str = ""
    delivery: Delivery | None = None
    #: The ConfigMap's `default.topic.config.<key>` entries (e.g. retention.ms): the topic's own configuration.
    topic_config: dict[str, str] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return broker_topic(self.namespace, self.name)

    @property
    def path(self) -> str:
        return f"/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    namespace: str
    broker: str
    subscriber: Destination
    #: Legacy `filter.attributes` (exact match, "" = any value).
    attributes: dict[str, str] = field(default_factory=dict)
    #: The `filters` list (wins over `attributes` when non-empty).
    filters: list[dict[str, Any]] = field(default_factory=list)
    delivery: Delivery | None = None
    ordered: bool = False

    @property
    def consumer_group(self) -> str:
        return f"knative-trigger-{self.namespace}-{self.name}"


@dataclass(frozen=True)
class KafkaSinkSpec:
    name: str
    namespace: str
    topic: str
    bootstrap_servers: tuple[str, ...] = ()
    content_mode: str = "binary"
    partitions: int | None = None
    replication_factor: int | None = None


@dataclass(frozen=True)
class PingSourceSpec:
    """A PingSource (sources.knative.dev/v1): a CloudEvent with a fixed payload to `sink` on a cron schedule."""

    name: str
    namespace: str
    sink: Destination
    schedule: str = "* * * * *"
    timezone: str = ""  # an IANA zone; empty = UTC (the cluster's system time zone)
    content_type: str = ""
    data: str = ""

    @property
    def source(self) -> str:
        """The `source` attribute of its events, as Knative's ping adapter sets it."""
        return f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}"


@dataclass(frozen=True)
class Eventing:
    """Everything read from eventing/."""

    brokers: dict[tuple[str, str], BrokerSpec] = field(default_factory=dict)
    triggers: list[TriggerSpec] = field(default_factory=list)
    sinks: dict[tuple[str, str], KafkaSinkSpec] = field(default_factory=dict)
    pings: list[PingSourceSpec] = field(default_factory=list)

    def triggers_of(self, broker: BrokerSpec) -> list[TriggerSpec]:
        return [t for t in self.triggers if (t.namespace, t.broker) == (broker.namespace, broker.name)]
