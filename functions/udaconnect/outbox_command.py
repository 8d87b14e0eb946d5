"""`udaconnect outbox list|flush`: the events waiting in the outbox, and publishing them to the broker."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from udaconnect.settings import Settings


def _broker(settings: Settings) -> Settings:
    """These settings, with the running local stack's Kafka when no broker is configured."""
    from udaconnect.events import outbox
    from udaconnect.stackfile import stack_file

    path = stack_file(settings.data_dir)
    if outbox.configured(settings) or settings.publisher != "kafka" or not path.exists():
        return settings
    kafka = json.loads(path.read_text()).get("kafka", "")
    return dataclasses.replace(settings, kafka_bootstrap_servers=kafka)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.events import outbox
    from udaconnect.storage import database

    engine = database.engine(settings)
    if args.action == "list":
        with engine.connect() as conn:
            rows = outbox.pending(conn)
        for row in rows:
            print(f"{row.seq}  {row.type}  {row.source}  {row.id}  subject {row.attributes.get('subject', '-')}  "
                  f"age {row.age:.0f}s  attempts {row.attempts}")
            if row.last_error:
                print(f"    last error: {row.last_error}")
        print(f"{len(rows)} pending event(s)")
        return 0
    settings = _broker(settings)
    if not outbox.configured(settings):
        print("udaconnect: no broker configured: set KAFKA_BOOTSTRAP_SERVERS (or K_SINK with "
              "UDACONNECT_PUBLISHER=http), or run `udaconnect dev`", file=sys.stderr)
        return 2
    from udaconnect.events import publisher as publishers

    publisher = publishers.create(settings)
    try:
        published, failure = outbox.relay(engine, publisher, args.limit, args.batch)
    finally:
        publisher.close()
    where = settings.broker_topic if settings.publisher == "kafka" else settings.broker_url
    print(f"published {published} event(s) to {where}")
    if failure is not None:
        print(f"udaconnect: the broker failed, the rest stays in the outbox: {failure}", file=sys.stderr)
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `outbox` to the CLI's commands."""
    parser = commands.add_parser("outbox", help="list or publish the events waiting in the outbox")
    parser.add_argument("action", choices=["list", "flush"])
    parser.add_argument("--limit", type=int, help="flush at most this many events (default: all)")
    parser.add_argument("--batch", type=int, default=100, help="events per broker round trip")
    parser.set_defaults(run=run)
