"""The `udaconnect` command (also the kn plugin `kn udaconnect`): database, demo data, import, tokens, outbox,
dead letters, retention; the local stack's commands come from the developer tooling's package when it is installed."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from udaconnect import encounters_command, outbox_command, retention_command
from udaconnect.auth import command as auth_command
from udaconnect.places import command as places_command
from udaconnect.settings import Settings


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.storage import database

    if args.action == "upgrade":
        database.upgrade(settings, args.revision)
    elif args.action == "downgrade":
        database.downgrade(settings, args.revision)
    else:
        print(database.database_url(settings))
        if not settings.database_url:
            print("note: the embedded cluster answers this URL while `udaconnect dev` runs", file=sys.stderr)
    return 0


def conference(args: argparse.Namespace):
    from udaconnect.synthetic import Conference, DemoConference

    kind = DemoConference if args.demo else Conference
    options = {k: v for k, v in {"persons": args.persons, "days": args.days, "seed": args.seed}.items()
               if v is not None}
    if args.demo:  # its days: --start, else the last few up to today at the venue, so live phones continue it
        from datetime import UTC, datetime, timedelta
        from zoneinfo import ZoneInfo

        zone = Settings.from_env().venue_time_zone
        days = options.get("days", DemoConference.days)
        first = args.start or (datetime.now(ZoneInfo(zone)).date() - timedelta(days=days - 1))
        options.update(start=datetime(first.year, first.month, first.day, tzinfo=UTC), time_zone=zone,
                       ends=datetime.now(UTC))  # what happened until now, never the future
    return kind(**options)


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.seed import is_empty, seed
    from udaconnect.storage import database

    database.upgrade(settings)
    engine = database.engine(settings)
    if not is_empty(engine) and not args.force:
        if args.if_empty:
            print("the database already holds persons: nothing to seed")
            return 0
        print("the database already holds persons; use --force to add the demo conference anyway", file=sys.stderr)
        return 1
    persons, locations = seed(engine, conference(args), show_progress=not args.quiet)
    print(f"seeded {persons:,} persons and {locations:,} locations")
    return 0


def _date(text: str):  # noqa: ANN202 - a datetime.date
    from datetime import date

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _lon_lat(text: str) -> tuple[float, float]:
    try:
        lon, lat = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LON,LAT, got {text!r}") from None
    return lon, lat


def _import_legacy(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.legacy import Order, import_legacy
    from udaconnect.storage import database

    database.upgrade(settings)
    report = import_legacy(args.dsn, database.engine(settings), venues=args.venue,
                           assume=Order(args.assume) if args.assume else None)
    print(report)
    return 0


def stack_addresses(settings: Settings) -> dict[str, str]:
    from udaconnect.stackfile import live_stack

    found = live_stack(settings.data_dir)
    if settings.kafka_bootstrap_servers:
        found["kafka"] = settings.kafka_bootstrap_servers
    return found


def _dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    from kafka.errors import KafkaError

    from udaconnect import deadletters

    kafka = args.bootstrap or stack_addresses(settings).get("kafka")
    if not kafka:
        print("udaconnect: no Kafka known: run `udaconnect dev`, or pass --bootstrap / KAFKA_BOOTSTRAP_SERVERS",
              file=sys.stderr)
        return 2
    try:
        letters = [d for d in deadletters.read(kafka) if not args.id or d.event.attributes.get("id") in args.id]
    except KafkaError as exc:
        print(f"udaconnect: Kafka at {kafka} does not answer ({type(exc).__name__}); is the stack running? "
              "Start it with `udaconnect dev`", file=sys.stderr)
        return 2
    if args.action == "list":
        for letter in letters:
            a = letter.event.attributes
            print(f"{letter.partition}:{letter.offset}  {a.get('type')}  {a.get('source')}  {a.get('id')}"
                  f"{'  (replayed)' if letter.replayed else ''}\n    {letter.reason}")
        waiting = sum(not letter.replayed for letter in letters)
        print(f"{len(letters)} dead-lettered event(s), {waiting} not replayed yet")
        return 0
    if not args.id and not args.all:
        letters = [letter for letter in letters if not letter.replayed]  # what is new since the last replay
    print(f"replayed {deadletters.replay(kafka, settings.broker_topic, letters)} event(s) into "
          f"{settings.broker_topic}")
    return 0


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.openapi import render

    sys.stdout.write(render())
    return 0


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect import schemas

    if args.check:
        stale = schemas.stale()
        for name in stale:
            print(f"stale: schema/events/{name} (run: udaconnect schemas)", file=sys.stderr)
        return 1 if stale else 0
    for path in schemas.write():
        print(path)
    return 0


def settings_default(name: str) -> object:
    return getattr(Settings.from_env(), name)


def conference_arguments(sub: argparse.ArgumentParser) -> None:
    """The synthetic conference's options, shared by `seed` and `dev`."""
    sub.add_argument("--demo", action="store_true", help="the demo conference (its venue's places, today's end, "
                     "phones every 3-5 minutes); without it the benchmarks' (phones every 10-30 s)")
    sub.add_argument("--persons", type=int, help="attendees")
    sub.add_argument("--days", type=int)
    sub.add_argument("--seed", type=int, help="random seed")
    sub.add_argument("--start", type=_date, help="the demo's first day, YYYY-MM-DD (default: the last --days "
                     "days up to today in UDACONNECT_VENUE_TIME_ZONE; 2020-07-06 gives the original's dates)")


def _plugins(commands: argparse._SubParsersAction) -> None:
    """Commands another installed package adds (entry points `udaconnect.commands`): the developer tooling's
    `dev`, `send` and `status` (the developer tooling's package, absent from the image)."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="udaconnect.commands"):
        try:
            register = entry.load()
        except ImportError:  # declared by the distribution, but its package is not here (the image)
            continue
        register(commands)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="udaconnect", description=__doc__)
    root.add_argument("--data-dir", type=Path, help="local state (embedded PostgreSQL); default .udaconnect/")
    root.add_argument("--verbose", action="store_true", help="log Kafka and database clients at INFO")
    commands = root.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "url"])
    db.add_argument("revision", nargs="?", default="head")
    db.set_defaults(run=_db)

    seed = commands.add_parser("seed", help="load a synthetic conference")
    conference_arguments(seed)
    seed.add_argument("--force", action="store_true", help="seed even when persons exist")
    seed.add_argument("--if-empty", action="store_true", help="succeed without seeding when persons exist")
    seed.add_argument("--quiet", action="store_true")
    seed.set_defaults(run=_seed)

    dead = commands.add_parser("dead-letters", help="list or replay events in the dead-letter topic")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("--id", action="append",
                      help="only this event id (repeatable); default: every one not replayed yet")
    dead.add_argument("--all", action="store_true", help="replay every dead letter, replayed before or not")
    dead.add_argument("--bootstrap", help="Kafka (default: the running local stack's, or KAFKA_BOOTSTRAP_SERVERS)")
    dead.set_defaults(run=_dead_letters)
    outbox_command.register(commands)
    encounters_command.register(commands)
    retention_command.register(commands)
    places_command.register(commands)
    auth_command.register(commands)
    _plugins(commands)

    commands.add_parser("openapi", help="print the OpenAPI document").set_defaults(run=_openapi)
    schemas = commands.add_parser("schemas", help="write the CloudEvent payload JSON Schemas to schema/events/")
    schemas.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    schemas.set_defaults(run=_schemas)

    legacy = commands.add_parser("import-legacy", help="migrate an original UdaConnect database")
    legacy.add_argument("dsn", help="the original database, e.g. postgresql://ct_admin@host:5432/geoconnections")
    legacy.add_argument("--venue", action="append", default=[], type=_lon_lat, metavar="LON,LAT",
                        help="a known venue: settles rows whose two axis readings are both valid near it")
    legacy.add_argument("--assume", choices=["lonlat", "latlon"],
                        help="the order to take for rows still ambiguous (default: skip and report them)")
    legacy.set_defaults(run=_import_legacy)
    return root


def _embedded_started(settings: Settings, before: bool | None) -> None:
    """Stop the embedded PostgreSQL if this command started it: a command leaves no process behind."""
    if before is False:
        from udaconnect.storage import database
        from udaconnect.storage.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(settings.data_dir / "postgres")
        if server.running():
            database.dispose()
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("alembic", "kafka", "httpx", "httpx2", "httpcore") if not args.verbose else ():
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = Settings.from_env()
    if args.data_dir:
        settings = Settings(**{**settings.__dict__, "data_dir": args.data_dir})
    embedded_before: bool | None = None  # None: not ours to look after (DATABASE_URL, or the stack's own job)
    if not settings.database_url and args.command != "dev":
        from udaconnect.storage.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(settings.data_dir / "postgres")
        embedded_before = (embedded.data / "PG_VERSION").exists() and embedded.running()
    try:
        return int(args.run(args, settings))
    except Exception as error:  # a clear one-line message for operators, not a traceback
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from udaconnect.errors import UdaConnectError

        if isinstance(error, UdaConnectError):
            print(f"udaconnect: {error}", file=sys.stderr)
            return 2
        if isinstance(error, OperationalError | ProgrammingError):
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            hint = ("run `udaconnect db upgrade` (or `udaconnect dev`)" if isinstance(error, ProgrammingError)
                    else "is the database running? `udaconnect dev` starts the embedded one")
            print(f"udaconnect: the database answered: {reason}; {hint}", file=sys.stderr)
            return 2
        raise
    finally:
        _embedded_started(settings, embedded_before)


if __name__ == "__main__":
    sys.exit(main())
