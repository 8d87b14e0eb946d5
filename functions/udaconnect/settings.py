"""One settings object, read from the environment (tests build their own)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from udaconnect.contracts.names import MAX_FIXES
from udaconnect.headers import parse_origins

#: The repository root when running from a checkout (schema/, eventing/ live there).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def broker_topic(namespace: str, broker: str) -> str:
    """The Kafka topic of a Kafka-class Broker, as Knative's Kafka broker names it."""
    return f"knative-broker-{namespace}-{broker}"


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy URL of PostGIS; empty means "the embedded cluster under data_dir".
    database_url: str = ""
    #: Where local state lives (embedded PostgreSQL, broker state).
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".udaconnect")
    #: Kafka bootstrap servers ("host:port,..."); empty means "the local stack's broker".
    kafka_bootstrap_servers: str = ""
    #: Knative namespace and broker name: the broker topic is knative-broker-<namespace>-<broker>.
    namespace: str = "udaconnect"
    broker: str = "default"
    #: The broker's HTTP ingress (Knative injects K_SINK through a SinkBinding).
    broker_url: str = ""
    #: How ingest publishes: "kafka" (straight into the broker topic) or "http" (through the ingress).
    publisher: str = "kafka"
    #: Seconds a publish may take before it counts as failed (503 to the device, which sends again).
    publish_timeout: float = 10.0
    #: Directory holding the Alembic migrations.
    schema_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "schema")
    #: Directory holding the Knative Eventing objects the local broker obeys.
    eventing_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "eventing")
    #: Database connection pool size per process.
    pool_size: int = 8
    #: Seconds a search (and any other read of the connections target) may run in PostgreSQL before it is
    #: cancelled and answered 504; the gateway's own timeout for the route is longer.
    search_timeout: float = 10.0
    #: Seconds a local stack's stop waits for every accepted event to be delivered.
    drain_timeout: float = 30.0
    #: Two persons are in contact when fixes of both are within this many meters ...
    encounter_distance: float = 5.0
    #: ... and this many minutes of each other; a run of contacts with no longer gap is one encounter.
    encounter_window: float = 5.0
    #: The most fixes ingest takes in one io.udaconnect.locations.reported.v1 event (at most the contract's 500).
    max_fixes: int = MAX_FIXES
    #: Seconds a live encounter stream stays open before it ends and the client reconnects (Last-Event-ID).
    live_timeout: float = 240.0
    #: Days a location is kept: the retention function deletes older fixes (and encounters last seen before), and
    #: the Kafka topics keep an event no longer (retention.ms in eventing/broker.yaml says the same number).
    retention_days: float = 30.0
    #: The venue's IANA time zone: the demo's schedules, and the time zone the web client names times in.
    venue_time_zone: str = "America/Los_Angeles"
    #: Other origins whose pages may call the API from a browser (the gateway answers their CORS requests);
    #: empty: the same origin only. The local stack adds its own web client's origin.
    cors_origins: tuple[str, ...] = ()

    #: "on" (the default: every route but the public ones needs a bearer token) or "open" (no checks, for the
    #: original UdaConnect frontend; logged as a warning at every start, refused by the production overlay).
    auth: str = "on"
    #: The HMAC key (HS256, at least 32 bytes) that signs UdaConnect's own tokens: from UDACONNECT_AUTH_SECRET or
    #: the file UDACONNECT_AUTH_SECRET_FILE names (a mounted Secret); the local stack makes one in data_dir.
    auth_secret: str = field(default="", repr=False)
    #: The issuer and audience of UdaConnect's own tokens.
    token_issuer: str = "udaconnect"
    token_audience: str = "udaconnect"
    #: An external OpenID Connect issuer whose access tokens are accepted too (empty: none), its JWKS URL, the
    #: audience its tokens carry for us, the claim naming the person, and the claim listing roles ("organizer").
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    oidc_person_claim: str = "udaconnect_person"
    oidc_roles_claim: str = "roles"
    #: The web client's OAuth client id at that issuer (authorization code flow with PKCE), the scope it asks
    #: for, and the issuer's endpoints (empty: the browser reads them from the issuer's discovery document).
    oidc_client_id: str = ""
    oidc_scope: str = "openid"
    oidc_authorization_endpoint: str = ""
    oidc_token_endpoint: str = ""
    #: The persons function (the gateway's upstream; ingest asks it which devices were revoked).
    persons_url: str = ""
    #: Requests per second (and burst) each device may send to ingest, and each signed-in caller may search.
    #: A phone reporting every few seconds sends well under 1/s; organizers get ten times as much.
    ingest_rate: float = 5.0
    ingest_burst: int = 100
    search_rate: float = 2.0
    search_burst: int = 20

    @property
    def open(self) -> bool:
        """No authentication at all (UDACONNECT_AUTH=open)."""
        return self.auth == "open"

    @property
    def broker_topic(self) -> str:
        return broker_topic(self.namespace, self.broker)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            data_dir=Path(env.get("UDACONNECT_DATA_DIR", defaults.data_dir)),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", ""),
            namespace=env.get("UDACONNECT_NAMESPACE", defaults.namespace),
            broker=env.get("UDACONNECT_BROKER", defaults.broker),
            broker_url=env.get("K_SINK", ""),
            publisher=env.get("UDACONNECT_PUBLISHER", defaults.publisher),
            publish_timeout=float(env.get("UDACONNECT_PUBLISH_TIMEOUT", defaults.publish_timeout)),
            schema_dir=Path(env.get("UDACONNECT_SCHEMA_DIR", defaults.schema_dir)),
            eventing_dir=Path(env.get("UDACONNECT_EVENTING_DIR", defaults.eventing_dir)),
            pool_size=int(env.get("UDACONNECT_DB_POOL_SIZE", defaults.pool_size)),
            search_timeout=float(env.get("UDACONNECT_SEARCH_TIMEOUT", defaults.search_timeout)),
            drain_timeout=float(env.get("UDACONNECT_DRAIN_TIMEOUT", defaults.drain_timeout)),
            encounter_distance=float(env.get("UDACONNECT_ENCOUNTER_DISTANCE", defaults.encounter_distance)),
            encounter_window=float(env.get("UDACONNECT_ENCOUNTER_WINDOW", defaults.encounter_window)),
            live_timeout=float(env.get("UDACONNECT_LIVE_TIMEOUT", defaults.live_timeout)),
            retention_days=_positive(env.get("UDACONNECT_RETENTION_DAYS", defaults.retention_days),
                                     "UDACONNECT_RETENTION_DAYS"),
            venue_time_zone=env.get("UDACONNECT_VENUE_TIME_ZONE", defaults.venue_time_zone),
            cors_origins=parse_origins(env.get("UDACONNECT_CORS_ORIGINS", "")),
            max_fixes=min(MAX_FIXES, int(env.get("UDACONNECT_MAX_FIXES", defaults.max_fixes))),
            auth=_auth_mode(env.get("UDACONNECT_AUTH", defaults.auth)),
            auth_secret=_secret(env),
            token_issuer=env.get("UDACONNECT_TOKEN_ISSUER", defaults.token_issuer),
            token_audience=env.get("UDACONNECT_TOKEN_AUDIENCE", defaults.token_audience),
            oidc_issuer=env.get("UDACONNECT_OIDC_ISSUER", ""),
            oidc_jwks_url=env.get("UDACONNECT_OIDC_JWKS_URL", ""),
            oidc_audience=env.get("UDACONNECT_OIDC_AUDIENCE", ""),
            oidc_person_claim=env.get("UDACONNECT_OIDC_PERSON_CLAIM", defaults.oidc_person_claim),
            oidc_roles_claim=env.get("UDACONNECT_OIDC_ROLES_CLAIM", defaults.oidc_roles_claim),
            oidc_client_id=env.get("UDACONNECT_OIDC_CLIENT_ID", ""),
            oidc_scope=env.get("UDACONNECT_OIDC_SCOPE", defaults.oidc_scope),
            oidc_authorization_endpoint=env.get("UDACONNECT_OIDC_AUTHORIZATION_ENDPOINT", ""),
            oidc_token_endpoint=env.get("UDACONNECT_OIDC_TOKEN_ENDPOINT", ""),
            persons_url=env.get("UDACONNECT_UPSTREAM_PERSONS", ""),
            ingest_rate=float(env.get("UDACONNECT_INGEST_RATE", defaults.ingest_rate)),
            ingest_burst=int(env.get("UDACONNECT_INGEST_BURST", defaults.ingest_burst)),
            search_rate=float(env.get("UDACONNECT_SEARCH_RATE", defaults.search_rate)),
            search_burst=int(env.get("UDACONNECT_SEARCH_BURST", defaults.search_burst)),
        )


def _positive(value: object, name: str) -> float:
    number = float(str(value))
    if not number > 0:  # also NaN: a retention of 0 would delete every fix at the next tick
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return number


def _auth_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("on", "open"):
        raise ValueError(f"UDACONNECT_AUTH must be on or open, not {value!r}")
    return mode


def _secret(env: Mapping[str, str]) -> str:
    """UDACONNECT_AUTH_SECRET, or the content of the file UDACONNECT_AUTH_SECRET_FILE (a mounted Secret)."""
    if env.get("UDACONNECT_AUTH_SECRET"):
        return env["UDACONNECT_AUTH_SECRET"]
    path = env.get("UDACONNECT_AUTH_SECRET_FILE", "")
    return Path(path).read_text().strip() if path else ""
