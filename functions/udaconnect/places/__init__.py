"""Places: a venue's named areas (halls, rooms, booths, coffee, entrances), imported from GeoJSON."""

from udaconnect.places.geojson import DEMO_VENUE, InvalidVenue, PlaceFeature, Venue, read_venue

__all__ = ["DEMO_VENUE", "InvalidVenue", "PlaceFeature", "Venue", "read_venue"]
