"""Wire contracts: the HTTP API models and the CloudEvent types and payloads, in one place."""

__all__: list[str] = []
