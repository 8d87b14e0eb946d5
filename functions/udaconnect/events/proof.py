"""Delivery proof: ingest's HMAC over each location report it accepts, checked by persist before anything is stored.

A report reaches persist through the broker, and anyone who can reach the broker's ingress (or persist itself) can
post a CloudEvent: the attack of issue 22 (`ce-source: /not-a-device` into the ingress, a POST straight to persist,
both stored). So ingest, after it has checked the caller (a device's token for its own person and source, or an
organizer's import), adds two extensions:

- `reportedby`: `device` or `organizer` (an organizer's report is the explicit import path: any source);
- `deliveryproof`: HMAC-SHA256, base64url, over the version tag, type, source, id, partitionkey, arrivedat,
  reportedby and the data bytes, with a key that only ingest and persist hold (UDACONNECT_DELIVERY_KEY_FILE).

persist drops (204, counted, logged, never dead-lettered) a report without a valid proof, then checks in the
database that a device's report comes from an enrolled, unrevoked device *of that report's person*
(udaconnect.persist.store). `arrivedat` is covered too, so no one can backdate a fix past the plausibility rules.

Why a shared key and not a signature: persist, the only other holder, writes the location table anyway, so being
able to make a proof gives it nothing. Ed25519 would cost 37 us to sign per event in ingest and 152 us to verify in
persist against 2.3 us for the HMAC (cryptography 46, 400-byte message, the 2-core dev machine, 2026-12-07),
beyond the 10 % of ingest's per-fix CPU the issue allows. A replayed report (read from Kafka) carries a valid proof
but is a redelivery: persist's unique (source, id, index) stores it once.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from pathlib import Path

from udaconnect.errors import InfrastructureError

PROOF = "deliveryproof"
REPORTED_BY = "reportedby"
REPORTERS = ("device", "organizer")
#: Bytes of a key at least (`openssl rand -hex 32` makes 64; the local stack makes its own).
MIN_KEY_BYTES = 32
_VERSION = b"udaconnect-delivery-v1"
_SIGNED = ("type", "source", "id", "partitionkey", "arrivedat", REPORTED_BY)


def read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as error:
        raise InfrastructureError(f"the delivery key {path} cannot be read: {error}") from None
    if len(key) < MIN_KEY_BYTES:
        raise InfrastructureError(f"the delivery key {path} holds fewer than {MIN_KEY_BYTES} bytes")
    return key


def key_of(path: str) -> bytes:
    """The key in `path`, read again when the file changes (a Secret updated in place)."""
    from udaconnect.auth import keys

    key: bytes = keys.watch(path, read_key)
    return key


def _message(attributes: Mapping[str, object], data: bytes) -> bytes:
    fields = [str(attributes.get(name, "")).encode("utf-8", "surrogatepass") for name in _SIGNED]
    return b"\n".join([_VERSION, *fields, data])


def sign(key: bytes, attributes: Mapping[str, object], data: bytes) -> str:
    digest = hmac.digest(key, _message(attributes, data), "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def stamped(key: bytes, attributes: Mapping[str, str], data: bytes, reported_by: str) -> dict[str, str]:
    """`attributes` with `reportedby` and its `deliveryproof` (whatever the client sent under those names)."""
    if reported_by not in REPORTERS:
        raise ValueError(f"reported_by is one of {', '.join(REPORTERS)}")
    out = {k: v for k, v in attributes.items() if k != PROOF}
    out[REPORTED_BY] = reported_by
    out[PROOF] = sign(key, out, data)
    return out


def reporter(key: bytes, attributes: Mapping[str, object], data: bytes) -> str | None:
    """Who ingest said reported it (`device`, `organizer`) when the proof holds; None for a report without one,
    with another key's, or changed on the way."""
    proof, reported_by = attributes.get(PROOF), attributes.get(REPORTED_BY)
    if not isinstance(proof, str) or reported_by not in REPORTERS:
        return None
    if not hmac.compare_digest(proof.encode("utf-8", "surrogatepass"), sign(key, attributes, data).encode()):
        return None
    return str(reported_by)
