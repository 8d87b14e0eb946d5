"""Read Broker, Trigger, KafkaSink, PingSource and ConfigMap objects from the YAML in eventing/."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from udaconnect_dev.broker.durations import parse_duration
from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.filters import compile_trigger
from udaconnect_dev.broker.model import (
    BROKER_CLASS_ANNOTATION,
    DELIVERY_ORDER_ANNOTATION,
    BrokerSpec,
    Delivery,
    Destination,
    Eventing,
    KafkaSinkSpec,
    PingSourceSpec,
    Reference,
    TriggerSpec,
)

_BACKOFF_POLICIES = {"linear", "exponential"}
#: The Kafka broker's ConfigMap keys that set a topic configuration (e.g. default.topic.config.retention.ms).
_TOPIC_CONFIG = "default.topic.config."


def load_dir(directory: str | Path) -> Eventing:
    """Every object in the *.yaml files of `directory` (kustomization.yaml and unknown kinds are skipped)."""
    files = sorted(p for p in Path(directory).glob("*.y*ml") if p.stem != "kustomization")
    if not files:
        raise ConfigError(f"no YAML files in {directory}")
    return load_documents(doc for path in files for doc in yaml.safe_load_all(path.read_text()))


def load_text(text: str) -> Eventing:
    return load_documents(yaml.safe_load_all(text))


def load_documents(documents: Iterable[Any]) -> Eventing:
    docs = [d for d in documents if isinstance(d, dict)]
    config_maps = {_key(d): d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"}
    result = Eventing()
    for doc in docs:
        kind = doc.get("kind")
        if kind == "Broker":
            broker = _broker(doc, config_maps)
            result.brokers[(broker.namespace, broker.name)] = broker
        elif kind == "Trigger":
            result.triggers.append(_trigger(doc))
        elif kind == "KafkaSink":
            sink = _kafka_sink(doc)
            result.sinks[(sink.namespace, sink.name)] = sink
        elif kind == "PingSource":
            result.pings.append(_ping_source(doc))
    for trigger in result.triggers:
        if (trigger.namespace, trigger.broker) not in result.brokers:
            raise ConfigError(f"Trigger {trigger.name}: no Broker {trigger.namespace}/{trigger.broker}")
    return result


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    meta = doc.get("metadata") or {}
    if not meta.get("name"):
        raise ConfigError(f"{doc.get('kind')} without metadata.name")
    return meta.get("namespace") or "default", meta["name"]


def _broker(doc: dict[str, Any], config_maps: dict[tuple[str, str], dict[str, str]]) -> BrokerSpec:
    namespace, name = _key(doc)
    annotations = doc["metadata"].get("annotations") or {}
    broker_class = annotations.get(BROKER_CLASS_ANNOTATION, "")
    if broker_class != "Kafka":
        raise ConfigError(f"Broker {name}: only class Kafka is supported, not {broker_class!r}")
    spec = doc.get("spec") or {}
    ref = spec.get("config") or {}
    data: dict[str, str] = {}
    if ref:
        if ref.get("kind") != "ConfigMap":
            raise ConfigError(f"Broker {name}: spec.config must refer to a ConfigMap")
        cm_key = (ref.get("namespace") or namespace, ref.get("name", ""))
        if cm_key not in config_maps:
            raise ConfigError(f"Broker {name}: ConfigMap {cm_key[0]}/{cm_key[1]} not found")
        data = config_maps[cm_key]
    try:
        partitions = int(data.get("default.topic.partitions", 10))
        replication = int(data.get("default.topic.replication.factor", 1))
    except ValueError as exc:
        raise ConfigError(f"Broker {name}: {exc}") from exc
    return BrokerSpec(
        name=name,
        namespace=namespace,
        broker_class=broker_class,
        partitions=partitions,
        replication_factor=replication,
        bootstrap_servers=str(data.get("bootstrap.servers", "")),
        delivery=_delivery(spec.get("delivery"), namespace, f"Broker {name}"),
        topic_config={key.removeprefix(_TOPIC_CONFIG): str(value) for key, value in data.items()
                      if key.startswith(_TOPIC_CONFIG)},
    )


def _trigger(doc: dict[str, Any]) -> TriggerSpec:
    namespace, name = _key(doc)
    annotations = doc["metadata"].get("annotations") or {}
    spec = doc.get("spec") or {}
    if not spec.get("broker"):
        raise ConfigError(f"Trigger {name}: spec.broker is required")
    order = annotations.get(DELIVERY_ORDER_ANNOTATION, "unordered")
    if order not in ("ordered", "unordered"):
        raise ConfigError(f"Trigger {name}: {DELIVERY_ORDER_ANNOTATION} must be ordered or unordered")
    subscriber = _destination(spec.get("subscriber"), namespace, f"Trigger {name} subscriber")
    if subscriber is None:
        raise ConfigError(f"Trigger {name}: spec.subscriber is required")
    filters = spec.get("filters") or []
    if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        raise ConfigError(f"Trigger {name}: spec.filters must be a list of objects")
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    trigger = TriggerSpec(
        name=name,
        namespace=namespace,
        broker=spec["broker"],
        subscriber=subscriber,
        attributes={str(k): str(v) for k, v in attributes.items()},
        filters=filters,
        delivery=_delivery(spec.get("delivery"), namespace, f"Trigger {name}"),
        ordered=order == "ordered",
    )
    compile_trigger(trigger)  # a filter the broker cannot obey (a cesql one, say) fails the load, naming the Trigger
    return trigger


def _kafka_sink(doc: dict[str, Any]) -> KafkaSinkSpec:
    namespace, name = _key(doc)
    spec = doc.get("spec") or {}
    if not spec.get("topic"):
        raise ConfigError(f"KafkaSink {name}: spec.topic is required")
    mode = spec.get("contentMode", "binary")
    if mode not in ("binary", "structured"):
        raise ConfigError(f"KafkaSink {name}: contentMode must be binary or structured")
    return KafkaSinkSpec(
        name=name,
        namespace=namespace,
        topic=spec["topic"],
        bootstrap_servers=tuple(spec.get("bootstrapServers") or ()),
        content_mode=mode,
        partitions=spec.get("numPartitions"),
        replication_factor=spec.get("replicationFactor"),
    )


def _ping_source(doc: dict[str, Any]) -> PingSourceSpec:
    namespace, name = _key(doc)
    spec = doc.get("spec") or {}
    sink = _destination(spec.get("sink"), namespace, f"PingSource {name} sink")
    if sink is None:
        raise ConfigError(f"PingSource {name}: spec.sink is required")
    if spec.get("dataBase64"):
        raise ConfigError(f"PingSource {name}: only spec.data is supported locally")
    schedule = str(spec.get("schedule", "* * * * *"))
    if len(schedule.split()) != 5:  # Knative takes standard cron (five fields), no seconds
        raise ConfigError(f"PingSource {name}: schedule must have five cron fields, not {schedule!r}")
    return PingSourceSpec(name=name, namespace=namespace, sink=sink, schedule=schedule,
                          timezone=str(spec.get("timezone", "")), content_type=str(spec.get("contentType", "")),
                          data=str(spec.get("data", "")))


def _delivery(spec: dict[str, Any] | None, namespace: str, owner: str) -> Delivery | None:
    if not spec:
        return None
    retry = spec.get("retry")
    if retry is not None and (not isinstance(retry, int) or retry < 0):
        raise ConfigError(f"{owner}: delivery.retry must be a non-negative integer")
    policy = spec.get("backoffPolicy")
    if policy is not None and policy not in _BACKOFF_POLICIES:
        raise ConfigError(f"{owner}: delivery.backoffPolicy must be linear or exponential")
    delay, timeout = spec.get("backoffDelay"), spec.get("timeout")
    return Delivery(
        retry=retry,
        backoff_policy=policy,
        backoff_delay=parse_duration(delay) if delay is not None else None,
        timeout=parse_duration(timeout) if timeout is not None else None,
        dead_letter_sink=_destination(spec.get("deadLetterSink"), namespace, f"{owner} deadLetterSink"),
    )


def _destination(spec: dict[str, Any] | None, namespace: str, owner: str) -> Destination | None:
    if not spec:
        return None
    ref, uri = spec.get("ref"), spec.get("uri", "")
    if not ref and not uri:
        raise ConfigError(f"{owner}: needs ref or uri")
    if ref and not (ref.get("kind") and ref.get("name")):
        raise ConfigError(f"{owner}: ref needs kind and name")
    reference = (
        Reference(ref["kind"], ref["name"], ref.get("namespace") or namespace, ref.get("apiVersion", ""))
        if ref
        else None
    )
    return Destination(ref=reference, uri=str(uri))
