"""Bearer tokens: UdaConnect's own JWTs (EdDSA, Ed25519: signed by the issuer alone, checked against a JWKS of
public keys; udaconnect.auth.keys) and, when configured, an external OpenID Connect issuer's access tokens checked
against its JWKS. Signing and checking are PyJWT's (with cryptography's Ed25519).

Only the issuer can sign: the persons function (device enrolment) and `udaconnect token` hold the private key;
every other function holds the public keys only, so a compromised verifier cannot mint a token.

A token names one principal:
- `role: attendee, person: 5`: a person, who sees their own data;
- `role: organizer`: sees and manages everything (their reads of others' data are audited);
- `role: device, person: 5, device: <uuid>`: a phone enrolled by person 5, which may only report their
  locations with the source /devices/<uuid>;
- `role: service, scope: revocations`: ingest reading the revocation feed, and nothing else.
Every token carries iss, aud, sub, iat, exp and a `kid` header naming a key of the JWKS; anything else (alg none,
HS256 whatever its key, an unknown kid, another audience, expired, a role we do not know) is refused as 401, with
a reason that names what was wrong but never echoes the token.
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

from udaconnect.auth import keys
from udaconnect.contracts.names import DEVICE_SOURCE_PREFIX
from udaconnect.errors import FieldError, InfrastructureError, Unauthorized
from udaconnect.settings import Settings

ROLES = ("attendee", "organizer", "device", "service")
#: What a service token may be for (each one route: udaconnect.auth.policy.Access).
SERVICE_SCOPES = ("revocations",)
ALGORITHM = "EdDSA"
#: What an external issuer may sign with (never "none", never HMAC: its keys are public).
OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
#: Seconds of clock difference tolerated on exp/iat/nbf.
LEEWAY = 30
#: Verified tokens kept per process (ingest checks one per request; a phone sends the same token each time).
CACHE_SIZE = 8192


@dataclass(frozen=True)
class Principal:
    role: str  # anonymous | attendee | organizer | device
    subject: str = ""
    person_id: int | None = None
    device_id: str | None = None
    scope: str | None = None  # a service token's one use

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
          ttl: timedelta = timedelta(hours=12), subject: str | None = None, scope: str | None = None) -> str:
    """A token for `role` signed with the issuer's key (an attendee and a device name their person; a device its
    id; a service its scope); InfrastructureError in a process without the signing key."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role == "service") != (scope is not None) or (scope is not None and scope not in SERVICE_SCOPES):
        raise ValueError(f"a service token, and only one, names its scope: one of {', '.join(SERVICE_SCOPES)}")
    if role in ("attendee", "device") and person_id is None:
        raise ValueError(f"a {role} token names its person")
    if role == "device" and not device_id:
        raise ValueError("a device token names its device")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.token_issuer, "aud": settings.token_audience, "iat": now,
        "exp": now + int(ttl.total_seconds()), "jti": uuid.uuid4().hex, "role": role,
        "sub": subject or (f"device:{device_id}" if role == "device" else f"person:{person_id}"
                           if role == "attendee" else f"service:{scope}" if role == "service" else "organizer"),
    }
    if person_id is not None:
        claims["person"] = person_id
    if device_id:
        claims["device"] = device_id
    if scope:
        claims["scope"] = scope
    kid, key = keys.signing_key(settings)
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


def verify(settings: Settings, token: str) -> Principal:
    """The principal `token` names, or Unauthorized saying why not."""
    cached = _verified(settings).get(token)
    # a cached token stays valid while its key does: a retired kid is refused within keys.RECHECK seconds
    if cached is not None and cached[1] > time.time() - LEEWAY and (
            cached[2] is None or cached[2] in keys.public_keys(settings)):
        return cached[0]
    principal, expires, kid = _decode(settings, token)
    _verified(settings).put(token, (principal, expires, kid))
    return principal


def _decode(settings: Settings, token: str) -> tuple[Principal, float, str | None]:
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refused("the bearer token is not a JWT") from None
    if settings.oidc_issuer and unverified.get("iss") == settings.oidc_issuer:
        return _decode_oidc(settings, token, header)
    if header.get("alg") != ALGORITHM:
        raise _refused(f"tokens are signed with {ALGORITHM}, not {str(header.get('alg'))[:20]!r}")
    kid = str(header.get("kid"))
    key = keys.public_keys(settings).get(kid) or keys.public_keys(settings, fresh=True).get(kid)
    if key is None:
        raise _refused("the bearer token is signed with a key UdaConnect does not publish (unknown kid)")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=settings.token_audience,
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
    return _principal(claims), float(claims["exp"]), kid


def _principal(claims: dict[str, Any]) -> Principal:
    role, person, device = claims.get("role"), claims.get("person"), claims.get("device")
    if role not in ROLES:
        raise _refused("the bearer token names no known role")
    if role == "service":
        if claims.get("scope") not in SERVICE_SCOPES:
            raise _refused("a service token must name its scope")
        return Principal("service", str(claims["sub"]), scope=str(claims["scope"]))
    if role in ("attendee", "device") and (not isinstance(person, int) or isinstance(person, bool) or person < 1):
        raise _refused(f"a {role} token must name its person")
    if role == "device" and (not isinstance(device, str) or not device):
        raise _refused("a device token must name its device")
    return Principal(role, str(claims["sub"]), person if role != "organizer" else None,
                     device if role == "device" else None)


def _decode_oidc(settings: Settings, token: str, header: dict[str, Any]) -> tuple[Principal, float, None]:
    if header.get("alg") not in OIDC_ALGORITHMS:
        raise _refused(f"the issuer's tokens may not use {str(header.get('alg'))[:20]!r}")
    if not settings.oidc_audience:
        raise InfrastructureError("UDACONNECT_OIDC_AUDIENCE is unset: an external issuer's tokens are accepted "
                                  "only for UdaConnect's own audience")
    try:
        key = _jwks(settings.oidc_jwks_url).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError as error:
        raise InfrastructureError(f"the identity provider's keys are unavailable: {error}") from None
    except jwt.PyJWTError:
        raise _refused("the bearer token is signed with a key the identity provider does not publish") from None
    try:
        claims = jwt.decode(token, key, algorithms=OIDC_ALGORITHMS, audience=settings.oidc_audience,
                            issuer=settings.oidc_issuer, leeway=LEEWAY,
                            options={"require": ["exp", "iss", "sub", "aud"], "verify_aud": True})
    except jwt.ExpiredSignatureError:
        raise _refused("the bearer token has expired") from None
    except jwt.InvalidAudienceError:
        raise _refused("the bearer token is for another audience") from None
    except jwt.PyJWTError as error:
        raise _refused(f"the bearer token is not valid: {str(error)[:100]}") from None
    roles = claims.get(settings.oidc_roles_claim) or []
    roles = roles.split() if isinstance(roles, str) else roles
    if isinstance(roles, list) and "organizer" in roles:
        return Principal("organizer", f"oidc:{claims['sub']}"), float(claims["exp"]), None
    person = claims.get(settings.oidc_person_claim)
    if isinstance(person, str) and person.isdigit():
        person = int(person)
    if not isinstance(person, int) or isinstance(person, bool) or person < 1:
        raise _refused(f"the token names no UdaConnect person (claim {settings.oidc_person_claim!r})")
    return Principal("attendee", f"oidc:{claims['sub']}", person), float(claims["exp"]), None


@lru_cache(maxsize=4)
def _jwks(url: str) -> jwt.PyJWKClient:
    """The issuer's published keys, fetched once and cached (refetched for an unknown key id)."""
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _refused(reason: str) -> Unauthorized:
    return Unauthorized(reason, [FieldError("Authorization", reason)])


class _Cache:
    """Verified tokens and their expiry, least recently added dropped first (thread-safe)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Principal, float, str | None]] = {}  # principal, expiry, kid
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[Principal, float, str | None] | None:
        return self._items.get(token)

    def put(self, token: str, entry: tuple[Principal, float, str | None]) -> None:
        with self._lock:
            if len(self._items) >= CACHE_SIZE:
                self._items.pop(next(iter(self._items)))
            self._items[token] = entry


@lru_cache(maxsize=4)
def _verified(_settings: Settings) -> _Cache:
    return _Cache()
