"""Retention: locations, and what holds one, kept no longer than UDACONNECT_RETENTION_DAYS."""

from udaconnect.retention.sweep import Sweep, sweep

__all__ = ["Sweep", "sweep"]
