"""Reads and writes of persons and locations: the service layer between the HTTP edge and PostGIS."""

__all__: list[str] = []
