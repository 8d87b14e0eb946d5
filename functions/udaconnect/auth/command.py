"""`udaconnect token` (also `kn udaconnect token`): a bearer token for an attendee or an organizer, signed with
the key of this environment (UDACONNECT_AUTH_SECRET, else the local stack's); and `udaconnect audit list`."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta

from udaconnect.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: The longest an attendee's or organizer's token may live (device tokens are made by enrolment).
MAX_TTL = timedelta(days=30)


def duration(value: str) -> timedelta:
    """`90s`, `30m`, `12h` or `7d`, at most 30 days."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{value!r}: use e.g. 30m, 12h or 7d")
    ttl = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if not timedelta(0) < ttl <= MAX_TTL:
        raise argparse.ArgumentTypeError(f"{value!r}: between 1s and {MAX_TTL.days}d")
    return ttl


def web_url(settings: Settings) -> str:
    """The running local stack's web client, else the default local address."""
    from udaconnect.deadletters import live_stack

    return str(live_stack(settings.data_dir).get("web") or "http://localhost:30000")


def link(base: str, token: str) -> str:
    """A sign-in link: the web client takes the token from the fragment (never sent to a server, never logged)."""
    return f"{base.rstrip('/')}/#token={token}"


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.auth import issue, keys

    keyed = keys.with_key(settings)
    if args.organizer:
        token = issue(keyed, "organizer", ttl=args.ttl, subject=f"organizer:{args.name}" if args.name else None)
    else:
        if args.person < 1:
            raise SystemExit("udaconnect: --person must be a person id (1 or more)")
        token = issue(keyed, "attendee", person_id=args.person, ttl=args.ttl)
    print(link(args.web_url or web_url(settings), token) if args.link else token)
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.auth import audit
    from udaconnect.storage import database

    rows = audit.entries(database.engine(settings), args.person, args.since, args.limit)
    if not rows:
        print("the audit log is empty" + (f" for person {args.person}" if args.person else ""))
        return 0
    for row in reversed(rows):
        whose = f"person {row['person_id']}" if row["person_id"] is not None else "-"
        detail = f"  {row['detail']}" if row["detail"] else ""
        print(f"{row['at'].isoformat(timespec='seconds')}  {row['actor']}  {row['action']}  {whose}{detail}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `token` and `audit` to the CLI's commands."""
    token = commands.add_parser("token", help="print a bearer token (or a sign-in link) for an attendee or organizer")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", type=int, help="the attendee's person id")
    who.add_argument("--organizer", action="store_true", help="an organizer: sees and manages everything")
    token.add_argument("--name", help="the organizer's name, as the audit log shows it")
    token.add_argument("--ttl", type=duration, default=timedelta(hours=12), help="lifetime, e.g. 30m, 12h, 7d")
    token.add_argument("--link", action="store_true", help="a sign-in link to the web client instead")
    token.add_argument("--web-url", help="the web client for --link (default: the running local stack's)")
    token.set_defaults(run=_token)

    audit = commands.add_parser("audit", help="organizers' reads of other people's data: who, what, when")
    audit.add_argument("action", choices=["list"])
    audit.add_argument("--person", type=int, help="only reads of this person's data")
    audit.add_argument("--since", type=datetime.fromisoformat, help="from this time on (ISO 8601)")
    audit.add_argument("--limit", type=int, default=100)
    audit.set_defaults(run=_audit)
