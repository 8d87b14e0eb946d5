"""The token keys: one Ed25519 private key where tokens are signed (the issuer), a JWKS of public keys everywhere
they are checked; how a key directory is made, rotated and retired; the local stack's under its data directory.

A key directory holds `signing-key.pem` (PKCS#8, mode 0600: the newest key, the one that signs) and `jwks.json`
(the public halves of every key still valid, newest first). Rotation without downtime (docs/security.md):
`rotate` writes the new public key into the JWKS first and only then the new signing key, so a verifier that holds
the JWKS knows a new token's `kid` before the first one is signed; the old public key stays until `retire`, so
tokens signed before the roll stay valid for the overlap. A `kid` is the key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from udaconnect.errors import InfrastructureError
from udaconnect.settings import Settings

#: The local stack's key directory, under its data directory.
DIRECTORY = "auth"
SIGNING_KEY = "signing-key.pem"
JWKS = "jwks.json"
#: The local stack's service credential for ingest's revocation feed (made at each start).
INGEST_CREDENTIAL = "ingest-credential"
#: The local stack's delivery key (ingest proves, persist checks: udaconnect.events.proof).
DELIVERY_KEY = "delivery-key"


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK of `key` with its kid (RFC 7638 thumbprint), for a JWKS."""
    x = base64.urlsafe_b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": x.rstrip(b"=").decode()}
    digest = hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**jwk, "kid": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), "use": "sig", "alg": "EdDSA"}


def read_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """kid -> key of a JWKS file; InfrastructureError for a document that holds anything but Ed25519 public keys
    (a private or symmetric key in it would let every verifier sign)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InfrastructureError(f"the token keys (JWKS) {path} cannot be read: {error}") from None
    found: dict[str, Ed25519PublicKey] = {}
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk or not jwk.get("kid"):
            raise InfrastructureError(f"{path} may hold only Ed25519 public keys with a kid")
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        found[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    if not found:
        raise InfrastructureError(f"the token keys (JWKS) {path} hold no key")
    return found


def read_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise InfrastructureError(f"the signing key {path} cannot be read: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InfrastructureError(f"the signing key {path} is not an Ed25519 key")
    return key


#: Seconds between two looks at a key file's modification time (a new kid is looked for at once).
RECHECK = 1.0


class _Watched:
    """A file's parsed content, read again when its modification time or size changes (a Secret updated in place,
    a local rotation), so a key roll needs no restart; looked at most every RECHECK seconds unless `fresh`."""

    def __init__(self, path: Path, parse: Any) -> None:
        self.path, self.parse = path, parse
        self._stamp: tuple[int, int] | None = None
        self._value: Any = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def get(self, fresh: bool = False) -> Any:
        now = time.monotonic()
        if not fresh and self._stamp is not None and now - self._checked < RECHECK:
            return self._value
        self._checked = now
        try:
            stat = self.path.stat()
        except OSError as error:
            raise InfrastructureError(f"{self.path} cannot be read: {error}") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._value, self._stamp = self.parse(self.path), stamp
        return self._value


_watched: dict[tuple[str, str], _Watched] = {}
_watched_lock = threading.Lock()


def watch(path: str, parse: Any, fresh: bool = False) -> Any:
    """`parse(Path(path))`, parsed again when the file changes (looked at most every RECHECK s unless `fresh`)."""
    watched = _watched.get((path, parse.__name__))
    if watched is None:
        with _watched_lock:
            watched = _watched.setdefault((path, parse.__name__), _Watched(Path(path), parse))
    return watched.get(fresh)


def public_keys(settings: Settings, fresh: bool = False) -> dict[str, Ed25519PublicKey]:
    """kid -> public key of this process's JWKS (UDACONNECT_AUTH_JWKS_FILE), as the file was at most RECHECK
    seconds ago (now, when `fresh`)."""
    if not settings.auth_jwks_file:
        raise InfrastructureError("UDACONNECT_AUTH_JWKS_FILE is unset: tokens cannot be checked without the "
                                  "issuer's public keys (docs/security.md)")
    keys: dict[str, Ed25519PublicKey] = watch(settings.auth_jwks_file, read_public_keys, fresh)
    return keys


def signing_key(settings: Settings) -> tuple[str, Ed25519PrivateKey]:
    """(kid, key) of the issuer's signing key; InfrastructureError in a process that only verifies."""
    if not settings.auth_signing_key_file:
        raise InfrastructureError("this process holds no signing key (UDACONNECT_AUTH_SIGNING_KEY_FILE): only "
                                  "the issuer signs tokens")
    key: Ed25519PrivateKey = watch(settings.auth_signing_key_file, read_signing_key)
    return public_jwk(key.public_key())["kid"], key


# Key directories: made, rotated and retired by `udaconnect keys`, and by the local stack on first use.

def _write_private(path: Path, data: bytes) -> None:
    """Write `path` (mode 0600) whole or not at all: a reader sees the old or the new content."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.replace(partial, path)


def _jwks_document(directory: Path) -> list[dict[str, str]]:
    try:
        return list(json.loads((directory / JWKS).read_text())["keys"])
    except FileNotFoundError:
        return []


def rotate(directory: Path) -> str:
    """A new signing key in `directory` (made, mode 0700, when absent), its public key first in the JWKS beside
    the ones still valid; the new kid."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key.public_key())
    _write_private(directory / JWKS, json.dumps({"keys": [jwk, *_jwks_document(directory)]}, indent=2).encode())
    _write_private(directory / SIGNING_KEY, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return jwk["kid"]


def retire(directory: Path, kid: str) -> None:
    """Drop `kid` from the JWKS: tokens it signed are refused from then on. Never the key that signs."""
    current = public_jwk(read_signing_key(directory / SIGNING_KEY).public_key())["kid"]
    if kid == current:
        raise ValueError(f"{kid} is the key that signs: rotate first, then retire it")
    keys = _jwks_document(directory)
    if kid not in {jwk["kid"] for jwk in keys}:
        raise ValueError(f"{kid} is not in {directory / JWKS}")
    _write_private(directory / JWKS, json.dumps({"keys": [k for k in keys if k["kid"] != kid]}, indent=2).encode())


def local_directory(data_dir: Path) -> Path:
    """The local stack's key directory under `data_dir`, with a first key made on first use (mode 0600)."""
    directory = data_dir / DIRECTORY
    if not (directory / SIGNING_KEY).exists():
        rotate(directory)
    return directory


def with_key(settings: Settings) -> Settings:
    """`settings` with keys to sign and check: its own, else the local stack's under its data directory."""
    if settings.auth_jwks_file and settings.auth_signing_key_file:
        return settings
    directory = local_directory(settings.data_dir)
    return dataclasses.replace(settings, auth_jwks_file=settings.auth_jwks_file or str(directory / JWKS),
                               auth_signing_key_file=settings.auth_signing_key_file or str(directory / SIGNING_KEY))


def local_delivery_key(data_dir: Path) -> Path:
    """The local stack's delivery key (udaconnect.events.proof) in its key directory, made once (mode 0600)."""
    import secrets

    path = local_directory(data_dir) / DELIVERY_KEY
    if not path.exists():
        _write_private(path, (secrets.token_hex(32) + "\n").encode())
    return path


def environment(settings: Settings, signer: bool = False, delivery: bool = False) -> dict[str, str]:
    """What a process of a local stack needs to check the same tokens as the others; the signing key only for
    the `signer` (the issuer), the delivery key only for the two ends of a report's `delivery` (ingest, persist)."""
    keyed = with_key(settings)
    env = {"UDACONNECT_AUTH": keyed.auth, "UDACONNECT_AUTH_JWKS_FILE": keyed.auth_jwks_file,
           "UDACONNECT_AUTH_SIGNING_KEY_FILE": keyed.auth_signing_key_file if signer else "",
           "UDACONNECT_DELIVERY_KEY_FILE": "",
           "UDACONNECT_TOKEN_ISSUER": keyed.token_issuer, "UDACONNECT_TOKEN_AUDIENCE": keyed.token_audience}
    if delivery:
        env["UDACONNECT_DELIVERY_KEY_FILE"] = settings.delivery_key_file or str(local_delivery_key(settings.data_dir))
    return env
