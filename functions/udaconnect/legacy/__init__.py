"""Migrating an original UdaConnect database (Udacity's POC) into ours: `udaconnect import-legacy <DSN>`."""

from udaconnect.legacy.axis_order import Order
from udaconnect.legacy.importer import Progress, import_legacy
from udaconnect.legacy.report import ImportReport, Skipped

__all__ = ["ImportReport", "Order", "Progress", "Skipped", "import_legacy"]
