"""`udaconnect places import VENUE.geojson` and `udaconnect places list`: a venue's places in the database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from udaconnect.settings import Settings


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.places.geojson import InvalidVenue, read_venue
    from udaconnect.places.store import import_venue
    from udaconnect.storage import database

    try:
        venue = read_venue(args.file)
        database.upgrade(settings)
        with database.engine(settings).begin() as conn:
            count = import_venue(conn, venue)
    except InvalidVenue as error:
        print(f"udaconnect: {args.file}: {error.detail}", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem.field}: {problem.message}", file=sys.stderr)
        return 1
    print(f"imported {count} places from {args.file} (every earlier place replaced)")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from udaconnect.places.store import venue_geojson
    from udaconnect.storage import database

    with database.engine(settings).connect() as conn:
        venue = venue_geojson(conn, settings.venue_time_zone)
    for feature in venue["features"]:
        props = feature["properties"]
        print(f"{feature['id']:<16} {props['kind']:<9} {props['name']}"
              + (f" ({props['exhibitor']})" if props.get("exhibitor") else ""))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    places = commands.add_parser("places", help="a venue's named places (halls, rooms, booths) from GeoJSON")
    actions = places.add_subparsers(dest="places_action", required=True)
    load = actions.add_parser("import", help="replace the places by a venue's GeoJSON FeatureCollection")
    load.add_argument("file", type=Path, help="e.g. functions/udaconnect/places/venue.geojson (the demo's venue)")
    load.set_defaults(run=_import)
    actions.add_parser("list", help="the places, largest first").set_defaults(run=_list)
