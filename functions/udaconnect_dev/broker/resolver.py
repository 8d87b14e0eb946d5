"""Turn a Trigger's subscriber or a dead-letter sink into something to send to (an URL or a Kafka topic)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.model import Destination, KafkaSinkSpec


@dataclass(frozen=True)
class HttpTarget:
    url: str


@dataclass(frozen=True)
class KafkaTopicTarget:
    """A KafkaSink: events are written to its topic in Kafka binary mode."""

    topic: str
    sink: str


Target = HttpTarget | KafkaTopicTarget


class Resolver:
    """Locally, a Knative Service's address comes from `services` (name -> URL), then from the environment
    (UDACONNECT_UPSTREAM_<NAME>, as the gateway uses); in the cluster Knative resolves it from the Service status."""

    def __init__(
        self,
        services: Mapping[str, str] | None = None,
        sinks: Mapping[tuple[str, str], KafkaSinkSpec] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.services = dict(services or {})
        self.sinks = dict(sinks or {})
        self.env = os.environ if env is None else env

    def resolve(self, destination: Destination) -> Target:
        ref = destination.ref
        if ref is None:
            return HttpTarget(destination.uri)
        if ref.kind == "KafkaSink":
            sink = self.sinks.get((ref.namespace, ref.name))
            if sink is None:
                raise ConfigError(f"KafkaSink {ref.namespace}/{ref.name} not found in eventing/")
            if sink.content_mode != "binary":
                raise ConfigError(f"KafkaSink {ref.name}: only contentMode binary is supported locally")
            return KafkaTopicTarget(sink.topic, sink.name)
        if ref.kind != "Service":
            raise ConfigError(f"cannot resolve a {ref.kind} locally (only Service and KafkaSink)")
        url = self.services.get(ref.name) or self.env.get(_env_name(ref.name), "")
        if not url:
            raise ConfigError(f"no address for Service {ref.name}: set {_env_name(ref.name)} or --subscriber")
        # A uri next to a ref is relative to the ref's address (Knative Destination semantics).
        return HttpTarget(urljoin(url.rstrip("/") + "/", destination.uri.lstrip("/")) if destination.uri else url)


def _env_name(service: str) -> str:
    return "UDACONNECT_UPSTREAM_" + service.upper().replace("-", "_")
