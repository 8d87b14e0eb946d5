"""Run the local broker: python -m udaconnect_dev.broker --eventing-dir eventing --port 8081 --bootstrap HOST:PORT
--subscriber persist=http://127.0.0.1:8082 (no --bootstrap and no KAFKA_BOOTSTRAP_SERVERS: starts tansu too)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from udaconnect.settings import Settings
from udaconnect_dev.broker.consumer import ConsumerTuning
from udaconnect_dev.broker.dataplane import DataPlane
from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.kafka_server import KafkaServer
from udaconnect_dev.broker.loader import load_dir
from udaconnect_dev.broker.resolver import Resolver
from udaconnect_dev.stopping import StopSignals


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m udaconnect_dev.broker", description=__doc__)
    parser.add_argument("--eventing-dir", default=str(settings.eventing_dir))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--bootstrap",
        default=settings.kafka_bootstrap_servers,
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS, else an embedded tansu)",
    )
    parser.add_argument("--kafka-port", type=int, default=0, help="port of the embedded tansu (default: free)")
    parser.add_argument(
        "--subscriber",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="address of a Knative Service a Trigger refers to (also UDACONNECT_UPSTREAM_<NAME>)",
    )
    parser.add_argument(
        "--workers", type=int, default=ConsumerTuning.workers, help="HTTP connections (deliveries at once) per Trigger"
    )
    parser.add_argument(
        "--session-timeout-ms",
        type=int,
        default=ConsumerTuning.session_timeout_ms,
        help="consumer group session timeout (tansu: startup waits about half of it)",
    )
    parser.add_argument("--log-level", default=os.environ.get("UDACONNECT_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = dict(item.split("=", 1) for item in args.subscriber if "=" in item)
    stop = StopSignals((signal.SIGTERM, signal.SIGINT)).install()  # handlers that cannot block
    kafka = KafkaServer(port=args.kafka_port, external=args.bootstrap).start()
    try:
        eventing = load_dir(args.eventing_dir)
        plane = DataPlane(
            eventing,
            kafka.bootstrap_servers,
            Resolver(services, eventing.sinks),
            host=args.host,
            port=args.port,
            tuning=ConsumerTuning(
                workers=args.workers,
                session_timeout_ms=args.session_timeout_ms,
                heartbeat_interval_ms=max(args.session_timeout_ms // 4, 100),
                max_poll_interval_ms=args.session_timeout_ms,
            ),
        )
        plane.start()
    except ConfigError as exc:
        kafka.stop()
        print(f"broker: {exc}", file=sys.stderr)
        return 2
    # One line the local stack can wait for (the ingress already listens when it is printed).
    print(f"broker ready: ingress {plane.url} kafka {kafka.bootstrap_servers}", flush=True)
    stop.wait()
    logging.getLogger(__name__).info("stopping")
    try:
        plane.stop()
        kafka.stop()
    finally:
        stop.ignore()  # stopped: a second signal during the interpreter's exit must not turn 0 into -15
    return 0


if __name__ == "__main__":
    sys.exit(main())
