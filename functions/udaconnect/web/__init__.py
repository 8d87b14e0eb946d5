"""The web client: static ES modules and CSS served by the `web` function target."""

__all__: list[str] = []
