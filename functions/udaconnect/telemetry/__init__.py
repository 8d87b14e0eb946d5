"""What operators see of a running function: Prometheus metrics on their own port, and structured logs."""

from udaconnect.telemetry.serving import served, start_in_worker

__all__ = ["served", "start_in_worker"]
