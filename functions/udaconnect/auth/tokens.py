"""Bearer tokens: UdaConnect's own JWTs (HS256, a key from the environment) and, when configured, an external
OpenID Connect issuer's access tokens checked against its JWKS. Signing and checking are PyJWT's.

A token names one principal:
- `role: attendee, person: 5`: a person, who sees their own data;
- `role: organizer`: sees and manages everything (their reads of others' data are audited);
- `role: device, person: 5, device: <uuid>`: a phone enrolled by person 5, which may only report their
  locations with the source /devices/<uuid>.
Every token carries iss, aud, sub, iat and exp; anything else (alg none, another key, another audience, expired,
a role we do not know) is refused as 401, with a reason that names what was wrong but never echoes the token.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import jwt

from udaconnect.contracts.names import DEVICE_SOURCE_PREFIX
from udaconnect.errors import FieldError, InfrastructureError, Unauthorized
from udaconnect.settings import Settings

ROLES = ("attendee", "organizer", "device")
ALGORITHM = "HS256"
#: What an external issuer may sign with (never "none", never HMAC: its keys are public).
OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
#: Seconds of clock difference tolerated on exp/iat/nbf.
LEEWAY = 30
MIN_SECRET_BYTES = 32
#: Verified tokens kept per process (ingest checks one per request; a phone sends the same token each time).
CACHE_SIZE = 8192


@dataclass(frozen=True)
class Principal:
    role: str  # anonymous | attendee | organizer | device
    subject: str = ""
    person_id: int | None = None
    device_id: str | None = None

    @property
    def source(self) -> str | None:
        """The CloudEvents source a device reports with."""
        return f"{DEVICE_SOURCE_PREFIX}{self.device_id}" if self.device_id else None

    @property
    def organizer(self) -> bool:
        return self.role == "organizer"


ANONYMOUS = Principal("anonymous")
#: Every caller when UDACONNECT_AUTH=open.
OPEN = Principal("organizer", "open")


def issue(settings: Settings, role: str, *, person_id: int | None = None, device_id: str | None = None,
          ttl: timedelta = timedelta(hours=12), subject: str | None = None) -> str:
    """A signed token for `role` (an attendee and a device name their person; a device its id)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in ("attendee", "device") and person_id is None:
        raise ValueError(f"a {role} token names its person")
    if role == "device" and not device_id:
        raise ValueError("a device token names its device")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.token_issuer, "aud": settings.token_audience, "iat": now,
        "exp": now + int(ttl.total_seconds()), "jti": uuid.uuid4().hex, "role": role,
        "sub": subject or (f"device:{device_id}" if role == "device" else
                           f"person:{person_id}" if role == "attendee" else "organizer"),
    }
    if person_id is not None:
        claims["person"] = person_id
    if device_id:
        claims["device"] = device_id
    return jwt.encode(claims, _key(settings), algorithm=ALGORITHM)


def verify(settings: Settings, token: str) -> Principal:
    """The principal `token` names, or Unauthorized saying why not."""
    cached = _verified(settings).get(token)
    if cached is not None and cached[1] > time.time() - LEEWAY:
        return cached[0]
    principal, expires = _decode(settings, token)
    _verified(settings).put(token, principal, expires)
    return principal


def _decode(settings: Settings, token: str) -> tuple[Principal, float]:
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refused("the bearer token is not a JWT") from None
    if settings.oidc_issuer and unverified.get("iss") == settings.oidc_issuer:
        return _decode_oidc(settings, token, header)
    if header.get("alg") != ALGORITHM:
        raise _refused(f"tokens are signed with {ALGORITHM}, not {str(header.get('alg'))[:20]!r}")
    try:
        claims = jwt.decode(token, _key(settings), algorithms=[ALGORITHM], audience=settings.token_audience,
                            issuer=settings.token_issuer, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
    except jwt.ExpiredSignatureError:
        raise _refused("the bearer token has expired") from None
    except jwt.InvalidAudienceError:
        raise _refused("the bearer token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise _refused("the bearer token is from another issuer") from None
    except jwt.InvalidSignatureError:
        raise _refused("the bearer token's signature is not valid") from None
    except jwt.PyJWTError as error:
        raise _refused(f"the bearer token is not valid: {str(error)[:100]}") from None
    return _principal(claims), float(claims["exp"])


def _principal(claims: dict[str, Any]) -> Principal:
    role, person, device = claims.get("role"), claims.get("person"), claims.get("device")
    if role not in ROLES:
        raise _refused("the bearer token names no known role")
    if role in ("attendee", "device") and (not isinstance(person, int) or isinstance(person, bool) or person < 1):
        raise _refused(f"a {role} token must name its person")
    if role == "device" and (not isinstance(device, str) or not device):
        raise _refused("a device token must name its device")
    return Principal(role, str(claims["sub"]), person if role != "organizer" else None,
                     device if role == "device" else None)


def _decode_oidc(settings: Settings, token: str, header: dict[str, Any]) -> tuple[Principal, float]:
    if header.get("alg") not in OIDC_ALGORITHMS:
        raise _refused(f"the issuer's tokens may not use {str(header.get('alg'))[:20]!r}")
    try:
        key = _jwks(settings.oidc_jwks_url).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError as error:
        raise InfrastructureError(f"the identity provider's keys are unavailable: {error}") from None
    except jwt.PyJWTError:
        raise _refused("the bearer token is signed with a key the identity provider does not publish") from None
    try:
        claims = jwt.decode(token, key, algorithms=OIDC_ALGORITHMS, audience=settings.oidc_audience or None,
                            issuer=settings.oidc_issuer, leeway=LEEWAY,
                            options={"require": ["exp", "iss", "sub"], "verify_aud": bool(settings.oidc_audience)})
    except jwt.ExpiredSignatureError:
        raise _refused("the bearer token has expired") from None
    except jwt.InvalidAudienceError:
        raise _refused("the bearer token is for another audience") from None
    except jwt.PyJWTError as error:
        raise _refused(f"the bearer token is not valid: {str(error)[:100]}") from None
    roles = claims.get(settings.oidc_roles_claim) or []
    roles = roles.split() if isinstance(roles, str) else roles
    if isinstance(roles, list) and "organizer" in roles:
        return Principal("organizer", f"oidc:{claims['sub']}"), float(claims["exp"])
    person = claims.get(settings.oidc_person_claim)
    if isinstance(person, str) and person.isdigit():
        person = int(person)
    if not isinstance(person, int) or isinstance(person, bool) or person < 1:
        raise _refused(f"the token names no UdaConnect person (claim {settings.oidc_person_claim!r})")
    return Principal("attendee", f"oidc:{claims['sub']}", person), float(claims["exp"])


@lru_cache(maxsize=4)
def _jwks(url: str) -> jwt.PyJWKClient:
    """The issuer's published keys, fetched once and cached (refetched for an unknown key id)."""
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _key(settings: Settings) -> bytes:
    secret = settings.auth_secret.encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise InfrastructureError(
            f"UDACONNECT_AUTH_SECRET is {'unset' if not secret else 'too short'}: tokens need a key of at least "
            f"{MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)")
    return secret


def _refused(reason: str) -> Unauthorized:
    return Unauthorized(reason, [FieldError("Authorization", reason)])


class _Cache:
    """Verified tokens and their expiry, least recently added dropped first (thread-safe)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[Principal, float] | None:
        return self._items.get(token)

    def put(self, token: str, principal: Principal, expires: float) -> None:
        with self._lock:
            if len(self._items) >= CACHE_SIZE:
                self._items.pop(next(iter(self._items)))
            self._items[token] = (principal, expires)


@lru_cache(maxsize=4)
def _verified(_settings: Settings) -> _Cache:
    return _Cache()
