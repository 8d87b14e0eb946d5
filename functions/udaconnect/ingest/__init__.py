"""The ingest function: device CloudEvents in, durably published to the broker out.

Errors: envelope or payload problems become InvalidInput (-> 4xx problem+json naming each bad event);
a broker that cannot take the events becomes InfrastructureError (-> 503, the device retries).
"""

__all__: list[str] = []
