"""`udaconnect retention run [--dry-run]`: the retention function's sweep, by hand (the PingSource runs it hourly)."""

from __future__ import annotations

import argparse
import sys

from udaconnect.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.retention import sweep
    from udaconnect.retention.sweep import BATCH
    from udaconnect.storage import database

    database.upgrade(settings)
    done = sweep(database.engine(settings), settings.retention_days, batch=args.batch or BATCH, budget=args.budget,
                 dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"retention {settings.retention_days:g} days (UDACONNECT_RETENTION_DAYS): {verb} {done.locations:,} "
          f"locations, {done.untrusted:,} untrusted fixes, {done.encounters:,} encounters and {done.outbox:,} "
          "undelivered outbox events older than "
          f"{done.cutoff.isoformat(timespec='seconds')} in {done.seconds:.1f} s"
          + ("; more is left: run it again" if done.left else ""), file=sys.stderr)
    return 0


def register(commands) -> None:  # noqa: ANN001 - argparse's subparsers action
    parser = commands.add_parser("retention", help="delete locations older than UDACONNECT_RETENTION_DAYS")
    parser.add_argument("action", choices=["run"])
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    parser.add_argument("--batch", type=int, help="rows per transaction (default 5000)")
    parser.add_argument("--budget", type=float, default=float("inf"),
                        help="seconds to spend at most (default: until nothing older is left)")
    parser.set_defaults(run=run)
