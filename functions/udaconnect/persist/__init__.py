"""The persist function: location reports delivered by the broker, stored in PostGIS with group commit."""

__all__: list[str] = []
