"""The one authentication seam of ingest: who is reporting. Today every caller is accepted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceIdentity:
    """The authenticated caller; `device` stays None until devices carry credentials."""

    device: str | None = None


def authenticate(headers: Mapping[str, str]) -> DeviceIdentity:
    """The caller's identity, or raise (a future `Unauthorized(InvalidInput)` with status 401) to refuse it.

    Device credentials (e.g. a per-device token in `Authorization`, checked against a device registry,
    then requiring each event's `source` to be that device's /devices/<id>) go here and nowhere else.
    """
    return DeviceIdentity()
