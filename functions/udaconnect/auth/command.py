"""`udaconnect token` (also `kn udaconnect token`): a bearer token for an attendee, an organizer or a service,
signed with the issuer's key of this environment (UDACONNECT_AUTH_SIGNING_KEY_FILE, else the local stack's);
`udaconnect keys rotate|retire|show`: a key directory's keys (docs/security.md: rotation); `udaconnect audit list`."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from pathlib import Path

from udaconnect.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: The longest an attendee's or organizer's token may live (device tokens are made by enrolment).
MAX_TTL = timedelta(days=30)
#: A service credential (ingest's, for the revocation feed) may live longer: it is renewed with the Secret.
MAX_SERVICE_TTL = timedelta(days=365)


def duration(value: str) -> timedelta:
    """`90s`, `30m`, `12h` or `7d`, at most a year (a person's token: at most 30 days, checked by `_token`)."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{value!r}: use e.g. 30m, 12h or 7d")
    ttl = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if not timedelta(0) < ttl <= MAX_SERVICE_TTL:
        raise argparse.ArgumentTypeError(f"{value!r}: between 1s and {MAX_SERVICE_TTL.days}d")
    return ttl


def web_url(settings: Settings) -> str:
    """The running local stack's web client, else the default local address."""
    from udaconnect.stackfile import live_stack

    return str(live_stack(settings.data_dir).get("web") or "http://localhost:30000")


def link(base: str, token: str) -> str:
    """A sign-in link: the web client takes the token from the fragment (never sent to a server, never logged)."""
    return f"{base.rstrip('/')}/#token={token}"


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.auth import issue, keys

    keyed = keys.with_key(settings)
    if args.service:
        print(issue(keyed, "service", scope=args.service, ttl=args.ttl or timedelta(days=90),
                    subject=f"service:{args.name or 'ingest'}"))
        return 0
    args.ttl = args.ttl or timedelta(hours=12)
    if args.ttl > MAX_TTL:
        raise SystemExit(f"udaconnect: --ttl: between 1s and {MAX_TTL.days}d for a person's token")
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


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.auth import keys

    directory = args.dir or keys.local_directory(settings.data_dir)
    if args.action == "rotate":
        print(f"signing with {keys.rotate(directory)}; the JWKS in {directory / keys.JWKS} holds the old keys too "
              "until `udaconnect keys retire KID`")
    elif args.action == "retire":
        if not args.kid:
            raise SystemExit("udaconnect: keys retire needs the KID to retire")
        try:
            keys.retire(directory, args.kid)
        except ValueError as error:
            raise SystemExit(f"udaconnect: {error}") from None
        print(f"retired {args.kid}: tokens it signed are refused")
    signing = keys.public_jwk(keys.read_signing_key(directory / keys.SIGNING_KEY).public_key())["kid"]
    for kid in keys.read_public_keys(directory / keys.JWKS):
        print(f"{kid}{'  (signs)' if kid == signing else ''}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `token`, `keys` and `audit` to the CLI's commands."""
    token = commands.add_parser("token", help="print a bearer token (or a sign-in link) for an attendee, an organizer "
                                              "or a service")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", type=int, help="the attendee's person id")
    who.add_argument("--organizer", action="store_true", help="an organizer: sees and manages everything")
    who.add_argument("--service", choices=["revocations"],
                     help="a service credential for one route: `revocations` is ingest's, for the revocation feed")
    token.add_argument("--name", help="the organizer's (or service's) name, as the audit log shows it")
    token.add_argument("--ttl", type=duration, help="lifetime, e.g. 30m, 12h, 7d (default 12h; a service's 90d)")
    token.add_argument("--link", action="store_true", help="a sign-in link to the web client instead")
    token.add_argument("--web-url", help="the web client for --link (default: the running local stack's)")
    token.set_defaults(run=_token)

    keys = commands.add_parser("keys", help="the token keys: rotate (a new signing key, old ones still valid), "
                                            "retire KID, show")
    keys.add_argument("action", choices=["rotate", "retire", "show"])
    keys.add_argument("kid", nargs="?", help="the key to retire")
    keys.add_argument("--dir", type=Path, help="a key directory (signing-key.pem, jwks.json; default: the local "
                                               "stack's)")
    keys.set_defaults(run=_keys)

    audit = commands.add_parser("audit", help="organizers' reads of other people's data: who, what, when")
    audit.add_argument("action", choices=["list"])
    audit.add_argument("--person", type=int, help="only reads of this person's data")
    audit.add_argument("--since", type=datetime.fromisoformat, help="from this time on (ISO 8601)")
    audit.add_argument("--limit", type=int, default=100)
    audit.set_defaults(run=_audit)
