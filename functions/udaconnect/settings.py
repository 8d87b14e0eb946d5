"""One settings object, read from the environment (tests build their own); every variable is declared here once.

Each field names its environment variable, default and meaning (`setting(...)`); `Settings.from_env` reads
exactly those, and the README's configuration table is generated from them (`python -m udaconnect.settings`
rewrites it; tests/test_settings.py fails while it is stale), so a setting cannot go undocumented.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from udaconnect.contracts.names import MAX_FIXES
from udaconnect.headers import parse_origins

#: The repository root when running from a checkout (schema/, eventing/ live there).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The gateway's upstream of a target is UDACONNECT_UPSTREAM_<TARGET> (a Knative Service URL, or a local process).
UPSTREAM_PREFIX = "UDACONNECT_UPSTREAM_"


def broker_topic(namespace: str, broker: str) -> str:
    """The Kafka topic of a Kafka-class Broker, as Knative's Kafka broker names it."""
    return f"knative-broker-{namespace}-{broker}"


def setting(env: str, default: Any, doc: str, *, parse: Callable[[str], Any] | None = None,
            read: Callable[[Mapping[str, str]], Any] | None = None, shown: str | None = None,
            factory: Callable[[], Any] | None = None, secret: bool = False) -> Any:
    """A field read from `env`: `parse` turns its text into the value (by the field's type when None), `read`
    takes the whole environment instead (None: unset), `shown` is the default as the README says it."""
    metadata = {"env": env, "doc": doc, "parse": parse, "read": read, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def _positive(name: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value)
        if not number > 0:  # also NaN: a retention of 0 would delete every fix at the next tick
            raise ValueError(f"{name} must be a positive number, not {value!r}")
        return number

    return parse


def _day(name: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        from datetime import date

        text = value.strip()
        try:
            return date.fromisoformat(text).isoformat() if text else ""
        except ValueError:
            raise ValueError(f"{name} must be a day YYYY-MM-DD or empty, not {value!r}") from None

    return parse


def _auth_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("on", "open"):
        raise ValueError(f"UDACONNECT_AUTH must be on or open, not {value!r}")
    return mode


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"UDACONNECT_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}")
    return level


def _log_format(value: str) -> str:
    form = value.strip().lower()
    if form not in ("text", "json"):
        raise ValueError(f"UDACONNECT_LOG_FORMAT must be text or json, not {value!r}")
    return form


def _upstreams(env: Mapping[str, str]) -> tuple[tuple[str, str], ...] | None:
    found = tuple(sorted((k[len(UPSTREAM_PREFIX):].lower(), v) for k, v in env.items()
                         if k.startswith(UPSTREAM_PREFIX) and v))
    return found or None


_PARSERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float, "Path": Path}


@dataclass(frozen=True)
class Settings:
    database_url: str = setting(
        "DATABASE_URL", "", "PostGIS (postgresql://user@host/db); unset: the embedded cluster under "
        "UDACONNECT_DATA_DIR", shown="the embedded cluster")
    database_read_url: str = setting(
        "DATABASE_READ_URL", "", "A streaming replica of DATABASE_URL for the connection search, tracks and "
        "encounter reads; each read goes there once it has replayed what the primary held when the read began, "
        "else to the primary (docs/capacity.md)", shown="none: every read on the primary")
    read_replica_wait: float = setting(
        "UDACONNECT_READ_REPLICA_WAIT", 0.2, "Seconds a read waits for the replica to catch up before it reads "
        "the primary", parse=_positive("UDACONNECT_READ_REPLICA_WAIT"))
    data_dir: Path = setting(
        "UDACONNECT_DATA_DIR", None, "Where local state lives (embedded PostgreSQL, broker state)",
        factory=lambda: PROJECT_ROOT / ".udaconnect", shown=".udaconnect/")
    kafka_bootstrap_servers: str = setting(
        "KAFKA_BOOTSTRAP_SERVERS", "", "Kafka bootstrap servers (host:port,...)", shown="the local stack's broker")
    namespace: str = setting(
        "UDACONNECT_NAMESPACE", "udaconnect", "Knative namespace: the broker topic is "
        "knative-broker-<namespace>-<broker>")
    broker: str = setting("UDACONNECT_BROKER", "default", "Knative broker name")
    broker_url: str = setting(
        "K_SINK", "", "The broker's HTTP ingress (Knative injects it through a SinkBinding)")
    publisher: str = setting(
        "UDACONNECT_PUBLISHER", "kafka", "How ingest publishes: kafka (straight into the broker topic) or http "
        "(through K_SINK)")
    publish_timeout: float = setting(
        "UDACONNECT_PUBLISH_TIMEOUT", 10.0, "Seconds a publish may take before it counts as failed (503 to the "
        "device, which sends again)")
    schema_dir: Path = setting(
        "UDACONNECT_SCHEMA_DIR", None, "Directory holding the Alembic migrations",
        factory=lambda: PROJECT_ROOT / "schema", shown="schema/")
    eventing_dir: Path = setting(
        "UDACONNECT_EVENTING_DIR", None, "Directory holding the Knative Eventing objects the local broker obeys",
        factory=lambda: PROJECT_ROOT / "eventing", shown="eventing/")
    pool_size: int = setting("UDACONNECT_DB_POOL_SIZE", 8, "Database connection pool size per process")
    search_timeout: float = setting(
        "UDACONNECT_SEARCH_TIMEOUT", 10.0, "Seconds a search (and any other read of the connections target) may run "
        "in PostgreSQL before it is cancelled and answered 504")
    gateway_timeout: float = setting(
        "UDACONNECT_GATEWAY_TIMEOUT", 60.0, "Seconds the gateway waits for a search (beyond the search's own "
        "budget, which answers 504 itself)")
    gateway_call_timeout: float = setting(
        "UDACONNECT_GATEWAY_CALL_TIMEOUT", 15.0, "Seconds the gateway waits for any other call")
    gateway_body_timeout: float = setting(
        "UDACONNECT_GATEWAY_BODY_TIMEOUT", 20.0, "Seconds a client may take to send its body to the gateway")
    upstreams: tuple[tuple[str, str], ...] = setting(
        UPSTREAM_PREFIX + "<TARGET>", (), "The gateway's upstream of each target (a Knative Service URL, or a local "
        "process); ingest asks UDACONNECT_UPSTREAM_PERSONS which devices were revoked", read=_upstreams,
        shown="none")
    drain_timeout: float = setting(
        "UDACONNECT_DRAIN_TIMEOUT", 30.0, "Seconds a local stack's stop waits for every accepted event to be "
        "delivered")
    encounter_distance: float = setting(
        "UDACONNECT_ENCOUNTER_DISTANCE", 5.0, "Two persons are in contact when fixes of both are within this many "
        "meters ...")
    encounter_window: float = setting(
        "UDACONNECT_ENCOUNTER_WINDOW", 5.0, "... and this many minutes of each other; a run of contacts with no "
        "longer gap is one encounter")
    max_fixes: int = setting(
        "UDACONNECT_MAX_FIXES", MAX_FIXES, f"The most fixes ingest takes in one report (at most the contract's "
        f"{MAX_FIXES})", parse=lambda value: min(MAX_FIXES, int(value)))
    max_fix_age: float = setting(
        "UDACONNECT_MAX_FIX_AGE", 30.0, "Minutes a fix may be older than its arrival at ingest and still be trusted: "
        "phones upload what they buffered offline within minutes (the simulator's phones buffer up to 10); an "
        "older fix is kept, marked late, and proves no meeting", parse=_positive("UDACONNECT_MAX_FIX_AGE"))
    max_speed: float = setting(
        "UDACONNECT_MAX_SPEED", 2.5, "Meters per second a person may move between two fixes, less both "
        "accuracies (a brisk indoor walk is 1.5-2): a fix that needs more is kept, marked, and proves no meeting",
        parse=_positive("UDACONNECT_MAX_SPEED"))
    max_accuracy: float = setting(
        "UDACONNECT_MAX_ACCURACY", 50.0, "Meters: a fix whose own accuracy is worse is kept, marked imprecise, and "
        "proves no meeting; a device's fix with none is imprecise too, an organizer's import with none is judged as if "
        "it had this one",
        parse=_positive("UDACONNECT_MAX_ACCURACY"))
    max_devices: int = setting(
        "UDACONNECT_MAX_DEVICES", 3, "Active (not revoked) devices a person may have enrolled at once")
    enrol_rate: float = setting(
        "UDACONNECT_ENROL_RATE", 6.0, "Device enrolments per hour each person may make (bursts of 3); organizers "
        "ten times")
    live_timeout: float = setting(
        "UDACONNECT_LIVE_TIMEOUT", 240.0, "Seconds a live encounter stream stays open before it ends and the client "
        "reconnects (Last-Event-ID)")
    retention_days: float = setting(
        "UDACONNECT_RETENTION_DAYS", 30.0, "Days a location is kept: the retention function deletes older fixes "
        "(and encounters last seen before) every hour; the Kafka topics' retention.ms in eventing/broker.yaml and "
        "the Kafka cluster's log.retention.ms must say the same", parse=_positive("UDACONNECT_RETENTION_DAYS"))
    venue_time_zone: str = setting(
        "UDACONNECT_VENUE_TIME_ZONE", "America/Los_Angeles", "The venue's IANA time zone: the demo's schedules, and "
        "the time zone the web client names times in")
    cors_origins: tuple[str, ...] = setting(
        "UDACONNECT_CORS_ORIGINS", (), "Other origins (comma-separated, such as https://app.example.org) whose pages "
        "may call the API from a browser; the gateway echoes a listed Origin, never *; the local stack adds its web "
        "client's origin", parse=parse_origins, shown="the same origin only")

    function_target: str = setting(
        "FUNCTION_TARGET", "", "The function target a process serves (functions-framework reads it too): the "
        "metrics it exports are the ones of that target", shown="none")
    metrics_port: int = setting(
        "UDACONNECT_METRICS_PORT", 9464, "The port each function serves its Prometheus metrics on, at /metrics (its "
        "own port, never routed by Knative nor the gateway; 0: none); the local stack picks a free one per process")
    metrics_host: str = setting(
        "UDACONNECT_METRICS_HOST", "0.0.0.0", "The address the metrics port listens on (the pod's, for Prometheus; "
        "the local stack: 127.0.0.1)")
    otlp_endpoint: str = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT", "", "Where spans go over OTLP/HTTP (e.g. http://collector:4318); unset (and "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT unset): no tracing, the trace context is only passed on; the "
        "exporter reads the other OTEL_EXPORTER_OTLP_* and OTEL_BSP_* variables itself", shown="none")
    otlp_traces_endpoint: str = setting(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "The same for traces alone (a full URL, .../v1/traces)",
        shown="none")
    otel_service_name: str = setting(
        "OTEL_SERVICE_NAME", "", "The service name on a function's spans", shown="udaconnect-<target>")
    log_level: str = setting(
        "UDACONNECT_LOG_LEVEL", "INFO", "The functions' and the local broker's log level (INFO: one access line per "
        "request; DEBUG adds health checks)", parse=_log_level)
    log_format: str = setting(
        "UDACONNECT_LOG_FORMAT", "text", "The functions' log lines: text (readable) or json (one object a line)",
        parse=_log_format)

    auth: str = setting(
        "UDACONNECT_AUTH", "on", "on: every route but the public ones needs a bearer token; open: no checks, for "
        "the original UdaConnect frontend (logged as a warning at every start, refused by the production overlay)",
        parse=_auth_mode)
    auth_jwks_file: str = setting(
        "UDACONNECT_AUTH_JWKS_FILE", "", "A JWKS file (a mounted Secret) of the Ed25519 public keys that UdaConnect's "
        "own tokens may be signed with: every function that checks tokens reads it (again when it changes, for a "
        "key roll); the local stack makes one in its data directory", shown="none")
    auth_signing_key_file: str = setting(
        "UDACONNECT_AUTH_SIGNING_KEY_FILE", "", "The issuer's Ed25519 private key (PEM file, a mounted Secret) "
        "that signs UdaConnect's own tokens: the persons function (device enrolment) and `udaconnect token` only, "
        "never a function that merely checks tokens", shown="none")
    revocations_token_file: str = setting(
        "UDACONNECT_REVOCATIONS_TOKEN_FILE", "", "ingest's service credential for the revocation feed (a file "
        "holding a `service` token scoped to GET /api/devices/revoked, made by `udaconnect token --service "
        "revocations`), read again at each refresh", shown="none")
    delivery_key_file: str = setting(
        "UDACONNECT_DELIVERY_KEY_FILE", "", "The key (a file of at least 32 bytes, a mounted Secret) with which ingest "
        "proves each location report it accepted and persist checks that proof before storing (udaconnect.events."
        "proof): ingest and persist only; the local stack makes one in its data directory", shown="none")
    token_issuer: str = setting("UDACONNECT_TOKEN_ISSUER", "udaconnect", "The issuer of UdaConnect's own tokens")
    token_audience: str = setting(
        "UDACONNECT_TOKEN_AUDIENCE", "udaconnect", "The audience of UdaConnect's own tokens")
    oidc_issuer: str = setting(
        "UDACONNECT_OIDC_ISSUER", "", "An external OpenID Connect issuer whose access tokens are accepted too",
        shown="none")
    oidc_jwks_url: str = setting("UDACONNECT_OIDC_JWKS_URL", "", "That issuer's JWKS URL")
    oidc_audience: str = setting(
        "UDACONNECT_OIDC_AUDIENCE", "", "The audience its tokens carry for us (required with an issuer: its tokens "
        "for other services are refused)")
    oidc_person_claim: str = setting(
        "UDACONNECT_OIDC_PERSON_CLAIM", "udaconnect_person", "The claim naming the person")
    oidc_roles_claim: str = setting(
        "UDACONNECT_OIDC_ROLES_CLAIM", "roles", "The claim listing roles (organizer in it makes an organizer)")
    oidc_client_id: str = setting(
        "UDACONNECT_OIDC_CLIENT_ID", "", "The web client's OAuth client id at that issuer (authorization code flow "
        "with PKCE): the sign-in button")
    oidc_scope: str = setting("UDACONNECT_OIDC_SCOPE", "openid", "The scope the web client asks for")
    oidc_authorization_endpoint: str = setting(
        "UDACONNECT_OIDC_AUTHORIZATION_ENDPOINT", "", "The issuer's authorization endpoint",
        shown="from the issuer's discovery document")
    oidc_token_endpoint: str = setting(
        "UDACONNECT_OIDC_TOKEN_ENDPOINT", "", "The issuer's token endpoint",
        shown="from the issuer's discovery document")
    ingest_rate: float = setting(
        "UDACONNECT_INGEST_RATE", 2.0, "Fixes per second each person may report to ingest, all their devices "
        "together (a phone takes one every few seconds); organizers get ten times as much")
    ingest_burst: int = setting("UDACONNECT_INGEST_BURST", 1000, "... and in a burst (two full 500-fix reports: "
                                "an offline phone's buffer)")
    search_rate: float = setting(
        "UDACONNECT_SEARCH_RATE", 2.0, "Searches per second each signed-in caller may make; organizers ten times")
    search_burst: int = setting("UDACONNECT_SEARCH_BURST", 20, "... and in a burst")

    web_api_base_url: str = setting(
        "UDACONNECT_API_BASE_URL", "", "Where the web client calls the API", shown="the same origin")
    web_start_date: str = setting("UDACONNECT_WEB_START_DATE", "", "The web client's default filters: first day "
                                  "(empty: two days before the last; a person's page opens on the days of their "
                                  "record) ...", shown="(the last 3 days)", parse=_day("UDACONNECT_WEB_START_DATE"))
    web_end_date: str = setting("UDACONNECT_WEB_END_DATE", "", "... last day (empty: today at the venue) ...",
                                shown="(today)", parse=_day("UDACONNECT_WEB_END_DATE"))
    web_distance: str = setting("UDACONNECT_WEB_DISTANCE", "5", "... and distance in meters")
    web_window: str = setting("UDACONNECT_WEB_WINDOW", "15", "... and time window in minutes: co-presence, whom "
                              "the person met (empty: the same place at any time)")
    web_tile_url: str = setting(
        "UDACONNECT_WEB_TILE_URL", "", "The web map's base layer, a tile URL template such as "
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png", shown="none: the venue's places alone")
    web_tile_attribution: str = setting(
        "UDACONNECT_WEB_TILE_ATTRIBUTION", "", "The base layer's attribution")

    @property
    def open(self) -> bool:
        """No authentication at all (UDACONNECT_AUTH=open)."""
        return self.auth == "open"

    @property
    def plausibility(self) -> Any:
        """The rules a fix must meet to be trusted (a udaconnect.plausibility.Rules)."""
        from datetime import timedelta

        from udaconnect.plausibility import Rules

        return Rules(timedelta(minutes=self.max_fix_age), self.max_speed, self.max_accuracy)

    @property
    def broker_topic(self) -> str:
        return broker_topic(self.namespace, self.broker)

    def upstream(self, target: str) -> str:
        """The URL of `target`'s function (UDACONNECT_UPSTREAM_<TARGET>), or ""."""
        return dict(self.upstreams).get(target.lower(), "")

    @property
    def persons_url(self) -> str:
        """The persons function (the gateway's upstream; ingest asks it which devices were revoked)."""
        return self.upstream("persons")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            meta = spec.metadata
            if meta["read"] is not None:
                value = meta["read"](env)
            else:
                text = env.get(meta["env"])
                value = None if text is None else (meta["parse"] or _PARSERS[str(spec.type)])(text)
            if value is not None:
                values[spec.name] = value
        settings = cls(**values)
        if settings.oidc_issuer and not settings.oidc_audience:
            # refused at start, not at the first sign-in: an issuer's tokens are for many relying parties
            raise ValueError("UDACONNECT_OIDC_AUDIENCE must be set with UDACONNECT_OIDC_ISSUER: that issuer's tokens "
                             "are accepted only when made for UdaConnect's own audience")
        return settings


#: Variables the local tooling reads for itself (not the functions): documented beside the settings.
TOOLING = (
    ("UDACONNECT_UVLOOP", "1", "0 runs the local broker without uvloop"),
)


def variables() -> list[tuple[str, str, str]]:
    """(name, default as shown, meaning) of every variable UdaConnect reads, in declaration order."""
    found = []
    for spec in dataclasses.fields(Settings):
        meta = spec.metadata
        default = spec.default if spec.default is not dataclasses.MISSING else None
        shown = meta["shown"] if meta["shown"] is not None else (f"{default:g}" if isinstance(default, float)
                                                                  else str(default))
        found.append((meta["env"], shown, meta["doc"]))
    return found + [(name, default, f"{doc} (local tooling only)") for name, default, doc in TOOLING]


BEGIN = "<!-- settings: generated from udaconnect/settings.py by `python -m udaconnect.settings` -->"
END = "<!-- /settings -->"


def table() -> str:
    """The README's configuration table."""
    rows = [f"| `{name}` | {_cell(default)} | {_cell(doc)} |" for name, default, doc in variables()]
    return "\n".join([BEGIN, "| Variable | Default | Meaning |", "|---|---|---|", *rows, END])


def _cell(text: str) -> str:
    return (text or "(empty)").replace("|", "\\|")


def readme_with_table(readme: str) -> str:
    """`readme` with its configuration table regenerated (between BEGIN and END)."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"the README has no {BEGIN!r} ... {END!r} section")
    return pattern.sub(lambda _: table(), readme)


if __name__ == "__main__":  # rewrite the README's table
    README = PROJECT_ROOT / "README.md"
    README.write_text(readme_with_table(README.read_text()))
