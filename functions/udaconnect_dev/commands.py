"""The local stack's commands, added to `udaconnect` when this package is installed (entry point
`udaconnect.commands`): `dev` (the whole stack with demo data until Ctrl-C), `send` (simulated phones) and
`status` (the local broker's Triggers, their lag and dead letters, and each function's metrics)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from udaconnect.cli import conference, conference_arguments, settings_default, stack_addresses
from udaconnect.settings import Settings
from udaconnect_dev.stopping import Console, StopRequested, StopSignals


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    """The whole stack until a stop is asked for (Ctrl-C, SIGTERM, SIGHUP, its terminal gone, however many and
    in whatever order), then one drain and one clean stop: the stack's processes, then the embedded PostgreSQL."""
    from udaconnect.ports import answers
    from udaconnect.stackfile import live_stack
    from udaconnect.storage.embedded import EmbeddedPostgres
    from udaconnect_dev.localstack import LocalStack

    signals = StopSignals().install()  # before anything starts: from here on a signal only asks for the stop
    console = Console(settings.data_dir / "logs" / "dev.log", gone=signals.request)
    stack = LocalStack(settings, api_port=args.api_port, web_port=args.web_port,
                       log_dir=settings.data_dir / "logs", host=args.host,
                       say=lambda line: console.say(f"udaconnect: {line}"), stop_requested=signals)
    # the embedded cluster is ours to stop on the way out unless another stack on this data directory uses it
    embedded = None if settings.database_url else EmbeddedPostgres(settings.data_dir / "postgres")
    owned = embedded is not None and (not embedded.running() or not live_stack(settings.data_dir))
    busy = [port for port in (args.api_port, args.web_port) if answers(args.host, port)]
    if busy:
        console.say(f"udaconnect: port {busy[0]} is in use (another `udaconnect dev`?); stop it or pass "
                    "--api-port/--web-port", sys.stderr)
        signals.ignore()
        return 2
    devices = threading.Event()  # the simulated phones stop first, so the drain has an end
    try:
        try:
            _run_until_stop(args, stack, console, signals, devices)
        except StopRequested:
            pass
        finally:
            devices.set()
            console.say(f"\nstopping ({signals.why() or 'an error'}): no new reports; delivering what was accepted "
                        f"(at most {args.drain_timeout:g} s)...")
            left = stack.stop(drain_timeout=args.drain_timeout)
            console.say(_stopped(left, args.drain_timeout))
    finally:
        if embedded is not None and owned:
            embedded.stop(timeout=5)
        signals.ignore()  # one stop, done: a signal during the interpreter's exit must not turn 0 into -15
    return 0


def _run_until_stop(args: argparse.Namespace, stack, console: Console,  # noqa: ANN001 - a LocalStack
                    signals: StopSignals,
         devices: threading.Event) -> None:
    """Start the stack (each step only if no stop was asked for yet) and watch it until a stop is asked for."""
    from udaconnect.seed import is_empty, seed
    from udaconnect.storage import database
    from udaconnect_dev.localstack import DEV_TARGETS

    settings = stack.settings
    if last := stack.last_stop():
        console.say(f"udaconnect: {last}")
    console.say("starting PostGIS and applying migrations...")
    stack.start_database()
    if args.demo and not signals.requested and is_empty(database.engine(settings)):
        persons, locations = seed(database.engine(settings), conference(args))
        console.say(f"seeded the demo conference: {persons:,} persons, {locations:,} locations")
    if expiring := _older_than_retention(settings):
        console.say(f"udaconnect: {expiring:,} locations are older than UDACONNECT_RETENTION_DAYS "
                    f"({settings.retention_days:g} days): the hourly retention deletes them; set a larger "
                    "UDACONNECT_RETENTION_DAYS to keep old demo dates (e.g. --start 2020-07-06)")
    if signals.requested:
        return
    stack.start(DEV_TARGETS, supervise=True)
    console.say(f"\nUdaConnect is running (logs in {settings.data_dir / 'logs'}):\n"
                f"  web client  {stack.web_url}\n  API         {stack.api_url}/api/persons\n"
                f"  API docs    {stack.api_url}/api/docs/\n"
                f"  database    {_without_password(stack.database_url)}\n"
                f"  metrics     {stack.metrics.get('ingest', '')} and every function's in "
                f"{settings.data_dir / 'stack.json'} (`udaconnect status` sums them)\n"
                f"{_sign_in(stack)}Press Ctrl-C to stop.")
    _demo_devices(stack, args.device_rate, devices, console)
    _watch_dead_letters(stack, signals, console)


def _stopped(left: int | None, drain_timeout: float) -> str:
    """The stop's last line: what the drain checked, and only that."""
    if left is None:
        why = "Kafka did not answer" if drain_timeout > 0 else "--drain-timeout 0: no drain"
        return f"stopped: whether every accepted event was delivered could not be checked ({why})"
    if left:
        return f"stopped: {left} accepted event(s) were left undelivered"
    return "stopped: every accepted event was delivered"


def _older_than_retention(settings: Settings) -> int:
    """How many locations the next retention sweep deletes (the demo with the original's dates: all of them)."""
    from udaconnect.retention.sweep import count_older
    from udaconnect.storage import database

    with database.engine(settings).connect() as conn:
        return count_older(conn, settings.retention_days)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _sign_in(stack) -> str:  # noqa: ANN001 - a LocalStack
    """Sign-in links for the first attendee and an organizer, and a search of that attendee's that shows something:
    their first day, 5 m, together within 15 min (the links hold tokens: valid 12 h, for this stack only)."""
    from udaconnect.auth.command import link

    if stack.settings.open:
        return "  auth        OFF (UDACONNECT_AUTH=open): anyone who reaches these ports sees everything\n"
    organizer = link(stack.web_url, stack.token("organizer"))
    found = _first_attendee(stack)
    if found is None:
        return f"  sign in     as an organizer: {organizer}\n"
    person, day = found
    attendee = stack.token("attendee", person)
    lines = f"  sign in     as attendee {person}: {link(stack.web_url, attendee)}\n" \
            f"              as an organizer: {organizer}\n"
    if day:
        query = f"start_date={day}&end_date={day}&distance=5&window=15"
        lines += f"  try         {stack.web_url}/persons/{person}?{query}#token={attendee}\n"
    return lines + "  more links  udaconnect token --person ID --link   (or --organizer)\n"


def _first_attendee(stack) -> tuple[int, str] | None:  # noqa: ANN001 - a LocalStack
    """The first person's id and their first day with a location ("" without one); None without persons."""
    from sqlalchemy import text

    from udaconnect.storage import database

    with database.engine(stack.settings).connect() as conn:
        found = conn.execute(text(
            "SELECT p.id, (SELECT min(creation_time) FROM location l WHERE l.person_id = p.id) "
            "FROM person p ORDER BY p.id LIMIT 1")).first()
    if found is None:
        return None
    return int(found[0]), found[1].date().isoformat() if found[1] is not None else ""


def _watch_dead_letters(stack, stop: StopSignals, console: Console,  # noqa: ANN001 - a LocalStack
                        every: float = 5.0) -> None:
    """Until a stop is asked for: say loudly whenever events reach the dead-letter topic, and how to replay them."""
    import json
    import urllib.request

    shown = 0
    while not stop.wait(every):
        broker = stack.processes.get("broker")
        try:
            with urllib.request.urlopen(broker.url + "/status", timeout=2) as reply:
                triggers = json.loads(reply.read())["triggers"]
        except (OSError, ValueError, AttributeError):
            continue  # restarting: the supervisor says so
        dead = sum(t["counts"].get("dead-lettered", 0) for t in triggers)
        if dead > shown:
            console.say(f"udaconnect: WARNING {dead - shown} event(s) reached the dead-letter topic (see "
                        "`udaconnect dead-letters list`; once the cause is fixed: `udaconnect dead-letters replay`)")
        shown = dead if dead >= shown else 0  # a restarted broker counts from zero


def _demo_devices(stack, rate: float, stop: threading.Event,  # noqa: ANN001 - a LocalStack
                  console: Console) -> None:
    """Simulated phones reporting in the background, so the flow runs while the API answers."""
    from sqlalchemy import text

    from udaconnect.storage import database
    from udaconnect_dev.simulator import Simulator

    with database.engine(stack.settings).connect() as conn:
        persons = [row[0] for row in conn.execute(text("SELECT id FROM person ORDER BY id LIMIT 20"))]
    if rate <= 0 or not persons:
        return
    simulator = Simulator(stack.api_url + "/api/events", persons, devices=len(persons), rate=rate, workers=2)
    if not stack.settings.open:  # each phone enrolled for its person, reporting with its own device token
        try:
            simulator.enrol(stack.api_url, stack.token("organizer", ttl=600), replace=True)
        except OSError as error:
            console.say(f"udaconnect: the simulated phones could not be enrolled: {error}", sys.stderr)
            return
    threading.Thread(target=simulator.run, kwargs={"stop": stop}, daemon=True, name="demo-devices").start()
    console.say(f"  devices     {len(persons)} simulated phones (enrolled devices) report {rate:g} fixes/s to "
                f"{stack.api_url}/api/events")


def _send(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import urllib.request
    from urllib.parse import urlsplit

    from udaconnect_dev.simulator import Simulator, progress_line

    if args.url is None:
        api = stack_addresses(settings).get("api")
        if not api:
            print("udaconnect: no local stack running (start it with `udaconnect dev`), or pass --url",
                  file=sys.stderr)
            return 2
        args.url = api + "/api/events"
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(args.url))
    token = "" if settings.open else args.token or _organizer_token(settings)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    if args.persons:
        persons = [int(p) for part in args.persons.split(",") for p in
                   (range(int(part.split("-")[0]), int(part.split("-")[1]) + 1) if "-" in part else [part])]
    else:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{origin}/api/persons?limit=1000", headers=auth),
                                        timeout=10) as reply:
                persons = [p["id"] for p in json.loads(reply.read())]
        except OSError as exc:
            print(f"udaconnect: the API at {origin} does not answer ({exc}); is `udaconnect dev` running?",
                  file=sys.stderr)
            return 2
    if not persons:
        print("udaconnect: no persons to report for (seed some, or pass --persons)", file=sys.stderr)
        return 2
    simulator = Simulator(args.url, persons, devices=args.devices, rate=args.rate, batch=args.batch,
                          buffer_seconds=args.buffer_seconds, workers=min(args.devices, 32))
    if token:
        try:
            simulator.enrol(origin, token, replace=True)
        except OSError as exc:
            print(f"udaconnect: could not enrol the simulated phones at {origin} ({exc}); pass an organizer's "
                  "--token", file=sys.stderr)
            return 2
    signals = StopSignals((signal.SIGINT, signal.SIGTERM)).install()  # handlers that cannot block
    stop = signals.as_event()

    def show(stats, elapsed: float) -> None:  # noqa: ANN001 - a simulator.Stats
        print(progress_line(stats, elapsed), end="", file=sys.stderr, flush=True)

    try:
        stats = simulator.run(duration=args.duration, count=args.count, stop=stop, progress=show)
        print(file=sys.stderr)
    finally:
        signals.ignore()  # stopped: a late Ctrl-C during the interpreter's exit changes nothing
    return 0 if stats.failed == 0 and stats.refused == 0 else 1


def _organizer_token(settings: Settings) -> str:
    """An organizer's token for an hour, signed with the local stack's key."""
    from datetime import timedelta

    from udaconnect.auth import issue, keys

    return issue(keys.with_key(settings), "organizer", ttl=timedelta(hours=1), subject="organizer:udaconnect-send")


def _status(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import urllib.request

    addresses = stack_addresses(settings)
    broker = addresses.get("broker")
    if not broker:
        print("udaconnect: no local stack running (start it with `udaconnect dev`)", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(broker + "/status", timeout=5) as reply:
            status = json.loads(reply.read())
    except OSError as exc:
        print(f"udaconnect: the local broker at {broker} does not answer ({exc}); is `udaconnect dev` running?",
              file=sys.stderr)
        return 2
    lag = _lag(addresses.get("kafka", ""), {t["group"]: t["topic"] for t in status["triggers"]})
    print(table(["BROKER", "TOPIC", "INGRESS"],
                [[f"{b['namespace']}/{b['name']}", b["topic"], b["ingress"]] for b in status["brokers"]]))
    outcomes = sorted({outcome for t in status["triggers"] for outcome in t["counts"]})
    rows = []
    for t in status["triggers"]:
        behind = lag.get(t["group"])
        rows.append([t["name"], "ready" if t["ready"] else f"not ready: {t['problem']}", t["subscriber"],
                     "?" if behind is None else f"{behind:,}", f"{t['in_flight']:,}",
                     *(f"{t['counts'].get(o, 0):,}" for o in outcomes)])
    print()
    print(table(["TRIGGER", "READY", "SUBSCRIBER", "LAG", "IN FLIGHT", *(o.upper() for o in outcomes)], rows))
    print()
    dead = sum(t["counts"].get("dead-lettered", 0) for t in status["triggers"])
    if dead:
        print(f"WARNING: {dead} event(s) went to the dead-letter topic since the broker started: "
              "`udaconnect dead-letters list`, then `udaconnect dead-letters replay` once the cause is fixed")
    print(_record_line(addresses.get("database", "")))
    from udaconnect_dev.scrape import summary

    metrics: Any = addresses.get("metrics") or {}  # stack.json holds a mapping there
    for function, url in metrics.items():
        print(summary(function, url))
    return 0


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns as kubectl prints them: a header, each column as wide as its widest cell, two spaces apart; a
    column of numbers (LAG, counts) aligned right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    numeric = [all(str(r[i]).replace(",", "").isdigit() or r[i] == "?" for r in rows) and bool(rows)
               for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).rjust(w) if num else str(c).ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _record_line(url: str) -> str:
    """"record  N fixes believed, M kept apart as untrusted (late 1, imprecise 0, speed 2, burst 0)", read from the
    running stack's database (its URL is in the stack's own file, .udaconnect/stack.json, mode 0600)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from udaconnect.queries.locations import record_counts

    if not url:
        return "record  unknown: the stack did not say where its database is"
    engine = create_engine(url, connect_args={"connect_timeout": 5, "options": "-c statement_timeout=10000"})
    try:
        with engine.connect() as conn:
            believed, doubted = record_counts(conn)
    except SQLAlchemyError as exc:
        return f"record  the database does not answer ({type(exc).__name__})"
    finally:
        engine.dispose()
    reasons = ", ".join(f"{reason} {count:,}" for reason, count in doubted.items())
    return (f"record  {believed:,} fixes believed, {sum(doubted.values()):,} kept apart as untrusted ({reasons}): "
            "an untrusted fix proves no meeting (docs/security.md)")


def _lag(kafka: str, groups: dict[str, str]) -> dict[str, int]:
    """Each Trigger's lag (accepted, not yet delivered), or nothing when Kafka cannot tell."""
    from kafka.errors import KafkaError

    from udaconnect.events.kafka_client import trigger_lag

    try:
        return trigger_lag(kafka, groups) if kafka else {}
    except KafkaError:
        return {}


def register(commands: argparse._SubParsersAction) -> None:
    """Add `dev`, `send` and `status` to the CLI's commands."""
    dev = commands.add_parser("dev", help="run the local stack until Ctrl-C")
    conference_arguments(dev)
    dev.add_argument("--api-port", type=int, default=30001)
    dev.add_argument("--web-port", type=int, default=30000)
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--device-rate", type=float, default=2.0,
                     help="fixes/s the simulated demo devices report (0: none)")
    dev.add_argument("--drain-timeout", type=float, default=settings_default("drain_timeout"),
                     help="seconds a stop waits for accepted events to be delivered (UDACONNECT_DRAIN_TIMEOUT)")
    dev.set_defaults(run=_dev)

    send = commands.add_parser("send", help="simulated devices posting location reports (CloudEvents)")
    send.add_argument("--url", help="ingest (default: the running local stack's /api/events)")
    send.add_argument("--rate", type=float, default=10.0, help="fixes per second, all devices together")
    send.add_argument("--devices", type=int, default=10)
    send.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C or --count)")
    send.add_argument("--count", type=int, help="stop after this many fixes")
    send.add_argument("--batch", type=int, default=1, help="fixes per request (>1: batch mode)")
    send.add_argument("--buffer-seconds", type=float, default=0.0,
                      help="report as a phone does: each device buffers its fixes and uploads them every this "
                           "many seconds as one multi-fix event (io.udaconnect.locations.reported.v1)")
    send.add_argument("--persons", help="person ids, e.g. 1-20,25 (default: every person the API lists)")
    send.add_argument("--token", help="an organizer's bearer token, to enrol one device per simulated phone (default: "
                                      "one made with the local stack's key); each phone reports with its own")
    send.set_defaults(run=_send)
    commands.add_parser("status", help="the local broker's brokers and triggers").set_defaults(run=_status)
