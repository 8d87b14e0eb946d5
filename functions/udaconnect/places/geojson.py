"""A venue as GeoJSON: a FeatureCollection of named places, validated feature by feature before import.

Every feature needs a string `id` (kept as the place's id, so a re-import does not change what answers said),
`properties.name`, `properties.kind` (lower case: hall, room, stage, booth, coffee, food, lobby, entrance, ...) and
a Point, Polygon or MultiPolygon geometry in WGS 84 (longitude, latitude). Other properties (a booth's
`exhibitor`) are kept. Structure is checked here; PostGIS checks that polygons are valid (no self-intersection)
at import. Every bad feature is reported, each with its index and id, not only the first.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from udaconnect.errors import FieldError, InvalidInput

#: The demo conference's venue (fictional, original work): two halls, 60 booths, 8 talk rooms.
DEMO_VENUE = Path(__file__).with_name("venue.geojson")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KIND = re.compile(r"^[a-z][a-z_-]{0,31}$")
MAX_PLACES = 10_000


class InvalidVenue(InvalidInput):
    """A venue file that cannot be imported; `errors` names every bad feature."""


@dataclass(frozen=True)
class PlaceFeature:
    id: str
    name: str
    kind: str
    geometry: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Venue:
    places: list[PlaceFeature]
    name: str | None = None
    time_zone: str | None = None


def _position(value: object) -> str | None:
    if not (isinstance(value, list) and len(value) in (2, 3)
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        return "a position must be [longitude, latitude] numbers"
    lon, lat = value[0], value[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return f"position {value} is outside longitude -180..180, latitude -90..90 (axes are longitude, latitude)"
    return None


def _polygon(rings: object) -> str | None:
    if not isinstance(rings, list) or not rings:
        return "a Polygon is a non-empty list of linear rings"
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            return "a linear ring needs at least 4 positions"
        for position in ring:
            if problem := _position(position):
                return problem
        if ring[0][:2] != ring[-1][:2]:
            return "a linear ring must end where it starts"
    return None


def _geometry(geometry: object) -> str | None:
    if not isinstance(geometry, dict):
        return "missing (a Point, Polygon or MultiPolygon)"
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        return _position(coordinates)
    if kind == "Polygon":
        return _polygon(coordinates)
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            return "a MultiPolygon is a non-empty list of polygons"
        return next((p for p in map(_polygon, coordinates) if p), None)
    return f"type {kind!r} is not a Point, Polygon or MultiPolygon"


def _feature(index: int, feature: object, seen: set[str]) -> tuple[PlaceFeature | None, list[FieldError]]:
    where = f"features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [FieldError(where, "must be a GeoJSON Feature")]
    fid = feature.get("id")
    if isinstance(fid, str) and fid:
        where = f"features[{index}] ({fid})"
    errors = []
    if not isinstance(fid, str) or not _ID.match(fid):
        errors.append(FieldError(f"{where}.id", "must be a string of letters, digits, '.', '_' or '-' (1-64)"))
    elif fid in seen:
        errors.append(FieldError(f"{where}.id", "is used by another feature"))
    props = feature.get("properties")
    props = props if isinstance(props, dict) else {}
    name, kind = props.get("name"), props.get("kind")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        errors.append(FieldError(f"{where}.properties.name", "must be a non-empty string (at most 200 characters)"))
    if not isinstance(kind, str) or not _KIND.match(kind):
        errors.append(FieldError(f"{where}.properties.kind", "must be a lower-case word, e.g. booth, room, hall"))
    if problem := _geometry(feature.get("geometry")):
        errors.append(FieldError(f"{where}.geometry", problem))
    if errors or not isinstance(fid, str) or not isinstance(name, str) or not isinstance(kind, str):
        return None, errors
    seen.add(fid)
    extra = {k: v for k, v in props.items() if k not in ("name", "kind")}
    return PlaceFeature(fid, name.strip(), kind, feature["geometry"], extra), []


def read_venue(source: str | bytes | Path | dict[str, Any]) -> Venue:
    """The venue in `source` (a path, JSON text or a parsed document), or InvalidVenue naming every bad feature."""
    if isinstance(source, Path):
        try:
            source = source.read_bytes()
        except OSError as error:
            raise InvalidVenue(f"cannot read {error.filename}: {error.strerror}") from None
    if isinstance(source, str | bytes):
        try:
            source = json.loads(source)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidVenue(f"not JSON: {error}") from None
    if not isinstance(source, dict) or source.get("type") != "FeatureCollection" \
            or not isinstance(source.get("features"), list):
        raise InvalidVenue("a venue is a GeoJSON FeatureCollection")
    features = source["features"]
    if not features or len(features) > MAX_PLACES:
        raise InvalidVenue(f"a venue has 1 to {MAX_PLACES:,} features, this one {len(features):,}")
    places: list[PlaceFeature] = []
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        place, problems = _feature(index, feature, seen)
        errors.extend(problems)
        if place:
            places.append(place)
    if errors:
        raise InvalidVenue(f"{len(errors)} problem(s) in the venue", errors)
    props = source.get("properties")
    zone = props.get("time_zone") if isinstance(props, dict) else None
    return Venue(places, source.get("name") if isinstance(source.get("name"), str) else None,
                 zone if isinstance(zone, str) else None)
