"""The local broker data plane from eventing/: topics, a consumer group per Trigger, the ingress, PingSource ticks."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.consumer import ConsumerTuning, TriggerConsumer
from udaconnect_dev.broker.delivery import Dispatcher
from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.filters import compile_trigger
from udaconnect_dev.broker.ingress import Ingress
from udaconnect_dev.broker.kafka_adapter import ensure_topics, init_offsets
from udaconnect_dev.broker.model import Delivery, Eventing, TriggerSpec
from udaconnect_dev.broker.resolver import HttpTarget, Resolver
from udaconnect_dev.broker.topics import topic_configs, wanted_topics

if TYPE_CHECKING:
    from udaconnect_dev.broker.ping import PingScheduler

log = logging.getLogger(__name__)


@dataclass
class _Route:
    trigger: TriggerSpec
    dispatcher: Dispatcher | None = None
    consumer: TriggerConsumer | None = None
    problem: str = ""


class DataPlane:
    """start() creates the topics, commits every new Trigger's initial offsets (Knative's rule), and returns once
    every consumer group has joined and the ingress listens: no event written after start() began is skipped."""

    def __init__(
        self,
        eventing: Eventing,
        bootstrap_servers: str,
        resolver: Resolver,
        host: str = "127.0.0.1",
        port: int = 8081,
        tuning: ConsumerTuning | None = None,
        write_timeout: float = 10.0,
    ) -> None:
        if not eventing.brokers:
            raise ConfigError("eventing/ defines no Broker")
        self.eventing, self.resolver, self.host, self.port = eventing, resolver, host, port
        self.bootstrap_servers = bootstrap_servers or next(iter(eventing.brokers.values())).bootstrap_servers
        self.tuning = tuning or ConsumerTuning()
        self.writer = KafkaWriter(self.bootstrap_servers, timeout=write_timeout)
        self.stopping = threading.Event()
        self.loop = DeliveryLoop(self.stopping)  # every Trigger's consumer and deliveries, on one thread
        self.routes = [_Route(t) for t in eventing.triggers]
        self.ingress: Ingress | None = None
        self.pings: PingScheduler | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> None:
        ensure_topics(self.bootstrap_servers, wanted_topics(self.eventing), topic_configs(self.eventing))
        self.loop.start()
        for route in self.routes:
            self._wire(route)
        init_offsets(self.bootstrap_servers, {r.consumer.group: r.consumer.topic for r in self.routes if r.consumer})
        consumers = [r.consumer for r in self.routes if r.consumer]
        for consumer in consumers:
            consumer.start()
        deadline = time.monotonic() + ready_timeout
        for consumer in consumers:
            if not consumer.ready.wait(max(deadline - time.monotonic(), 0)) or consumer.failed:
                self.stop()
                raise ConfigError(f"consumer group {consumer.group} did not start: {consumer.failed!r}")
        topics = {b.path: b.topic for b in self.eventing.brokers.values()}
        self.ingress = Ingress((self.host, self.port), topics, self.writer, self.status)
        self.port = self.ingress.port
        self.ingress.start()
        log.info("broker ingress on %s for %s", self.url, ", ".join(topics))
        if self.eventing.pings:
            from udaconnect_dev.broker.ping import PingScheduler

            self.pings = PingScheduler(self.eventing.pings, self.resolver, self.stopping)
            self.pings.start()

    def _wire(self, route: _Route) -> None:
        trigger = route.trigger
        broker = self.eventing.brokers[(trigger.namespace, trigger.broker)]
        matches = compile_trigger(trigger)  # a bad filter is a configuration error: fail loudly
        try:
            subscriber = self.resolver.resolve(trigger.subscriber)
            if not isinstance(subscriber, HttpTarget):
                raise ConfigError("only HTTP subscribers are supported locally")
            delivery = (trigger.delivery or Delivery()).merged_over(broker.delivery)
            sink = delivery.dead_letter_sink
            dead_letter = self.resolver.resolve(sink) if sink else None
        except ConfigError as exc:
            # As a Trigger whose subscriber does not resolve in Knative: not ready, nothing dispatched.
            route.problem = str(exc)
            log.warning("trigger %s not ready: %s", trigger.name, exc)
            return
        route.dispatcher = Dispatcher(
            subscriber, delivery, dead_letter, self.writer, broker.topic, self.loop, trigger.name, self.tuning.workers
        )
        route.consumer = TriggerConsumer(
            trigger.consumer_group,
            broker.topic,
            self.bootstrap_servers,
            matches,
            route.dispatcher.deliver,
            trigger.ordered,
            self.loop,
            self.tuning,
        )

    def status(self) -> dict[str, Any]:
        return {
            "brokers": [
                {"name": b.name, "namespace": b.namespace, "topic": b.topic, "ingress": self.url + b.path}
                for b in self.eventing.brokers.values()
            ],
            "triggers": [
                {
                    "name": r.trigger.name,
                    "group": r.trigger.consumer_group,
                    "topic": self.eventing.brokers[(r.trigger.namespace, r.trigger.broker)].topic,
                    "ordered": r.trigger.ordered,
                    "ready": bool(r.consumer and r.consumer.ready.is_set() and not r.consumer.failed),
                    "problem": r.problem or (repr(r.consumer.failed) if r.consumer and r.consumer.failed else ""),
                    "subscriber": r.dispatcher.subscriber.url if r.dispatcher else "",
                    "in_flight": r.consumer.in_flight() if r.consumer else 0,
                    "counts": dict(r.dispatcher.counts) if r.dispatcher else {},
                    **(r.consumer.progress_status() if r.consumer else {"fetch_lag": 0, "stalled": [], "stalls": 0}),
                }
                for r in self.routes
            ],
            "pings": self.pings.status() if self.pings else [],
        }

    def stop(self) -> None:
        """Stop accepting, let in-flight deliveries finish (bounded), commit what finished, close Kafka clients."""
        if self.ingress is not None:
            self.ingress.stop()
            self.ingress = None
        self.stopping.set()
        self.loop.wake()  # backoff waits end now: their events stay uncommitted
        for route in self.routes:
            if route.consumer and route.consumer.alive():
                route.consumer.join(self.tuning.drain_timeout + 5)
        for route in self.routes:
            if route.dispatcher and self.loop.running:
                self.loop.call(route.dispatcher.close)
        self.loop.close()
        self.writer.close()
