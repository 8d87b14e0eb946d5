"""UdaConnect: who crossed paths with whom, as Knative functions over PostGIS and a Kafka broker."""

__all__: list[str] = []
