"""`udaconnect encounters rebuild [--since DATE]`: recompute encounters from the stored fixes."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from udaconnect.settings import Settings


def rebuild(engine, settings: Settings, since: datetime | None = None) -> int:  # noqa: ANN001 - an Engine
    """Recompute (all, or from `since` on) with the settings' distance and window; the encounters there are."""
    from udaconnect.encounters import store

    with engine.begin() as conn:
        return store.rebuild(conn, settings.encounter_distance, timedelta(minutes=settings.encounter_window), since)


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("a date YYYY-MM-DD or an ISO 8601 date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.storage import database

    database.upgrade(settings)
    started = time.monotonic()
    total = rebuild(database.engine(settings), settings, args.since)
    print(f"{total:,} encounters ({settings.encounter_distance:g} m, {settings.encounter_window:g} min) "
          f"rebuilt {'from ' + args.since.isoformat() if args.since else 'from every fix'} "
          f"in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def register(commands) -> None:  # noqa: ANN001 - argparse's subparsers action
    parser = commands.add_parser("encounters", help="recompute encounters from the stored locations")
    parser.add_argument("action", choices=["rebuild"])
    parser.add_argument("--since", type=_since, help="only runs from this date on (UTC unless an offset is given); "
                                                     "after a change of the distance or window, rebuild all")
    parser.set_defaults(run=run)
