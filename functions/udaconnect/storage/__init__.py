"""Storage: the PostGIS schema, the engine, and the embedded PostgreSQL cluster."""

__all__: list[str] = []
