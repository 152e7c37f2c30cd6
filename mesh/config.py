"""Configuration from environment variables (a `.env` file may supply them); SPEC section 2.

One frozen `Settings` built once per process by `load_settings()`. Missing secrets get a
generated value and a warning in development; with EXCHANGE_ENV=production they are required.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Container, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dotenv

from mesh import engine_heartbeat
from mesh.assets import SUPPORTED_ASSETS

log = logging.getLogger(__name__)

_GENERATED_SECRETS: dict[str, str] = {}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_IDEMPOTENCY_PER_USER = 1_000
MAX_CANDLE_BARS = 5_000
"""CANDLES_MAX_BARS's bound: one call's candles are folded in one query."""
RETIRED = {"ENGINE_IDEMPOTENCY_WINDOW": "ENGINE_IDEMPOTENCY_PER_USER"}
"""Settings no longer read, and what replaced them: a start that finds one says so."""
"""Answers the engine remembers for retries: each user's last this many mutating commands."""


MIN_HEARTBEAT_TIMEOUT_MS = round(2 * engine_heartbeat.BEAT_EVERY_S * 1000)
"""ENGINE_HEARTBEAT_TIMEOUT_MS's least: two of the engine's beats, so one late beat never
reports a live engine down."""


EXIT_CONFIG = 2
"""A service's exit status when its configuration is wrong: `exchange up` stops rather than
restart what no restart mends."""


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def required(command: str, **values: str | None) -> tuple[str, ...]:
    """The settings `exchange <command>` cannot run without, in the order given; unset, a
    ConfigError naming every one missing (the one rule for REDIS_URL and DATABASE_URL, which
    only `exchange up` can do without: it starts embedded servers in their place)."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            f"{' and '.join(missing)} {verb} required for `exchange {command}` "
            "(`exchange up` starts its own Redis and PostgreSQL when they are unset)"
        )
    return tuple(value for value in values.values() if value)


ENVIRONMENTS = ("development", "production", "test")
"""EXCHANGE_ENV's values. Anything else is refused: a typo of "production" must not start a
server with generated secrets and non-Secure cookies."""


@dataclass(frozen=True)
class Settings:
    env: str
    redis_url: str | None
    database_url: str | None
    data_dir: Path
    http_port: int
    grpc_port: int
    grpc_target: str
    auth_jwt_secret: str
    email_jwt_secret: str
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None
    smtp_from: str
    smtp_starttls: bool
    backend_url: str
    frontend_url: str
    snapshot_interval_ms: int
    max_snapshots: int
    snapshot_dir: Path
    journal_fsync: bool
    maintenance_margin_ppm: int
    max_open_trades_per_user: int
    max_pending_orders_per_user: int
    idempotency_per_user: int
    engine_timeout_ms: int
    engine_heartbeat_timeout_ms: int
    """How long the engine's heartbeat lives (mesh.engine_heartbeat): an engine silent this long
    is reported down by the gateways' health and /healthz."""
    poller_assets: tuple[str, ...]
    poller_source: str
    poller_update_interval_ms: int
    poller_replay_speed: Decimal
    poller_replay_loop: bool
    poller_seed: int
    # Abuse limits, all per gateway instance (SECURITY.md lists them with their defaults).
    http_max_body_bytes: int
    command_rate_limit: Decimal  # commands per second per user
    command_rate_burst: int
    signin_links_per_email: int
    signin_links_per_client: int
    signin_link_window_s: int
    trusted_proxies: tuple[IpNetwork, ...]
    ws_max_connections: int
    ws_max_connections_per_ip: int
    ws_max_message_bytes: int
    ws_max_messages_per_s: int
    # Processes and observability.
    gateway_workers: int
    """Gateway processes sharing the HTTP and gRPC ports (SO_REUSEPORT)."""
    metrics_host: str
    engine_metrics_port: int
    """The engine's /metrics (Prometheus text); 0 turns it off."""
    ledger_metrics_port: int
    """The ledger's /metrics; 0 turns it off."""
    ledger_workers: int
    """Ledger processes `exchange up` runs, each its own consumer in the groups."""
    ledger_linger_ms: int
    """How long a ledger writer waits after a short batch before reading again, so entries
    arriving meanwhile share one Postgres transaction; 0 turns it off."""
    # Second round against a hostile client (issue 14; SECURITY.md lists them).
    allowed_origins: tuple[str, ...]
    """Origins, beyond FRONTEND_URL's and BACKEND_URL's, whose pages may write with the cookie."""
    grpc_host: str
    grpc_max_streams_per_peer: int
    grpc_max_streams: int
    candles_max_bars: int
    signups_per_client_per_day: int
    signups_per_mailbox_per_day: int

    @property
    def production(self) -> bool:
        return self.env == "production"


_USER_INFO = re.compile(r"^([a-z][a-z0-9+.-]*://)?.*@", re.IGNORECASE | re.DOTALL)
_PASSWORD_PARAMETER = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)", re.IGNORECASE)


_URL_USER_INFO = re.compile(r"([a-z][a-z0-9+.-]*://)\S*@", re.IGNORECASE)


def redacted_text(text: str) -> str:
    """A free message (a driver's error line) fit for a log line: the user and password of
    each URL in it, and any `password=` parameter, become `***`; the rest is left as it is
    (an e-mail address in it stays whole)."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _URL_USER_INFO.sub(r"\1***@", text))


def redacted(url: str) -> str:
    """`url` fit for a message or a log line: its user and password (`user:pw@`), and any
    `password=` parameter (a URL's query, a libpq key=value string) become `***`. Up to the
    last `@`: a password with a stray `/` or `@` in it must not show its tail."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _USER_INFO.sub(r"\1***@", url, count=1))


def _redis_url() -> str | None:
    """REDIS_URL: redis:// or unix://. The hot paths speak RESP on plain sockets (mesh.resp),
    so TLS is refused here rather than dropped there."""
    url = os.environ.get("REDIS_URL") or None
    if url is not None and not url.startswith(("redis://", "unix://")):
        raise ConfigError(
            f"REDIS_URL must start with redis:// or unix:// (no TLS), got {redacted(url)!r}"
        )
    return url


def _int(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _port(name: str, default: int) -> int:
    """A TCP port: 0 (any free one, or "off" where the variable says so) to 65535. Past that
    the kernel would take the number modulo 65536 and listen somewhere else."""
    return _int(name, default, 0, 65535)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


MIN_SECRET_CHARS = 32
"""A production secret's least length: an HMAC key guessed offline from one token must not be
in reach (a generated one is 43 characters)."""


def _secret(name: str, production: bool) -> str:
    value = os.environ.get(name)
    if value:
        if production and len(value) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"{name} must be at least {MIN_SECRET_CHARS} characters when "
                f"EXCHANGE_ENV=production (e.g. python -c 'import secrets; "
                f"print(secrets.token_urlsafe(32))')"
            )
        return value
    if production:
        raise ConfigError(f"{name} is required when EXCHANGE_ENV=production")
    if name not in _GENERATED_SECRETS:
        log.warning("%s is not set: using a generated secret (sessions end on restart)", name)
        _GENERATED_SECRETS[name] = secrets.token_urlsafe(32)
    return _GENERATED_SECRETS[name]


def _rate_ppm(name: str, default: str) -> int:
    raw = os.environ.get(name) or default
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number, got {raw!r}") from None
    if not rate.is_finite() or rate < 0 or rate >= 1:
        raise ConfigError(f"{name} must be in [0, 1), got {raw!r}")
    ppm = rate * 1_000_000
    if ppm != ppm.to_integral_value():
        raise ConfigError(f"{name} allows at most 6 decimals, got {raw!r}")
    return int(ppm)


def _positive_rate(name: str, default: str) -> Decimal:
    raw = os.environ.get(name) or default
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return rate


def _networks(name: str, default: str) -> tuple[IpNetwork, ...]:
    """Comma-separated IPs or CIDRs; an empty value (`TRUSTED_PROXIES=`) trusts nobody."""
    raw = os.environ.get(name)
    if raw is None:
        raw = default
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _assets(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if not raw:
        return ("BTC_USDC", "ETH_USDC", "SOL_USDC")
    assets = tuple(a.strip() for a in raw.split(",") if a.strip())
    unknown = [a for a in assets if a not in SUPPORTED_ASSETS]
    if unknown or not assets:
        raise ConfigError(
            f"{name} lists unsupported assets {unknown}; supported: {SUPPORTED_ASSETS}"
        )
    return assets


def _choice(
    name: str,
    default: str,
    shown: Sequence[str],
    accepted: Container[str] | None = None,
    *,
    upper: bool = False,
) -> str:
    """A setting that names one of a few values, in any case (read lower-case, or upper-case
    with `upper`): anything else stops the start, listing `shown`. `accepted` may take more
    than it lists."""
    raw = os.environ.get(name) or default
    value = raw.strip().upper() if upper else raw.strip().lower()
    if value not in (shown if accepted is None else accepted):
        raise ConfigError(f"{name} must be one of {', '.join(shown)}, got {raw!r}")
    return value


def _environment() -> str:
    return _choice("EXCHANGE_ENV", "development", ENVIRONMENTS)


def _origins(name: str) -> tuple[str, ...]:
    """Comma-separated origins (`scheme://host[:port]`, no path), compared as browsers send
    them in the Origin header: lower-case scheme and host."""
    origins = []
    for item in (part.strip() for part in (os.environ.get(name) or "").split(",")):
        if not item:
            continue
        scheme, sep, rest = item.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest or "/" in rest:
            raise ConfigError(f"{name}: {item!r} is not an origin like https://app.example.com")
        origins.append(f"{scheme.lower()}://{rest.lower()}")
    return tuple(origins)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


def log_level() -> str:
    """LOG_LEVEL, for mesh.logs: read before the other settings, so their warnings are
    logged at it. Python's other names (WARN, FATAL, NOTSET) pass too."""
    return _choice("LOG_LEVEL", "INFO", LOG_LEVELS, logging.getLevelNamesMapping(), upper=True)


def log_format() -> str:
    """LOG_FORMAT, for mesh.logs: a typo must not leave a log shipper reading text."""
    return _choice("LOG_FORMAT", "text", LOG_FORMATS)


def load_dotenv() -> Path | None:
    """The `.env` of the directory `exchange` starts in, if it has one,
    into the environment, never over a variable already set; its path, or None. Only that
    directory: a `.env` in a folder above it (a home directory's, another deployment's) is
    not this exchange's, and would name its database without a word. launcher.cli calls it
    first of all, for every `exchange` command and service process: LOG_LEVEL and LOG_FORMAT,
    read before any other setting (mesh.logs), and DATABASE_URL, checked before a service
    starts, may come from it too."""
    path = Path.cwd() / ".env"
    if not path.is_file():
        return None
    dotenv.load_dotenv(path, override=False)
    return path


def load_settings(*, need_secrets: bool = True) -> Settings:
    """`need_secrets=False` for services that sign nothing (engine, poller). The environment
    as it is: `.env` was loaded before (load_dotenv)."""
    env = _environment()
    production = env == "production"
    grpc_port = _port("GRPC_PORT", 50051)
    http_port = _port("HTTP_PORT", 3005)
    smtp_user = os.environ.get("SMTP_USER") or None
    speed_raw = os.environ.get("POLLER_REPLAY_SPEED") or "1"
    try:
        speed = Decimal(speed_raw)
    except InvalidOperation:
        raise ConfigError(f"POLLER_REPLAY_SPEED must be a number, got {speed_raw!r}") from None
    if not speed.is_finite() or speed <= 0:
        raise ConfigError(f"POLLER_REPLAY_SPEED must be positive, got {speed_raw!r}")
    settings = Settings(
        env=env,
        redis_url=_redis_url(),
        database_url=os.environ.get("DATABASE_URL") or None,
        data_dir=Path(os.environ.get("EXCHANGE_DATA_DIR") or ".exchange"),
        http_port=http_port,
        grpc_port=grpc_port,
        grpc_target=os.environ.get("GRPC_TARGET") or f"127.0.0.1:{grpc_port}",
        auth_jwt_secret=_secret("AUTH_JWT_SECRET", production) if need_secrets else "",
        email_jwt_secret=_secret("EMAIL_JWT_SECRET", production) if need_secrets else "",
        smtp_host=os.environ.get("SMTP_HOST") or None,
        smtp_port=_port("SMTP_PORT", 587 if smtp_user else 25),
        smtp_user=smtp_user,
        smtp_password=os.environ.get("SMTP_PASSWORD") or None,
        smtp_from=os.environ.get("SMTP_FROM") or "exchange@localhost",
        smtp_starttls=_bool("SMTP_STARTTLS", smtp_user is not None),
        backend_url=(os.environ.get("BACKEND_URL") or f"http://localhost:{http_port}").rstrip("/"),
        frontend_url=os.environ.get("FRONTEND_URL") or f"http://localhost:{http_port}/",
        snapshot_interval_ms=_int("ENGINE_SNAPSHOT_INTERVAL", 5000, minimum=1),
        max_snapshots=_int("ENGINE_MAX_SNAPSHOTS", 10, minimum=1),
        snapshot_dir=Path(os.environ.get("SNAPSHOT_DIR") or "snapshots"),
        journal_fsync=_bool("ENGINE_JOURNAL_FSYNC", True),
        maintenance_margin_ppm=_rate_ppm("ENGINE_MAINTENANCE_MARGIN_RATE", "0"),
        max_open_trades_per_user=_int("ENGINE_MAX_OPEN_TRADES_PER_USER", 200, minimum=1),
        max_pending_orders_per_user=_int("ENGINE_MAX_PENDING_ORDERS_PER_USER", 200, minimum=0),
        idempotency_per_user=_int(
            "ENGINE_IDEMPOTENCY_PER_USER", DEFAULT_IDEMPOTENCY_PER_USER, minimum=1
        ),
        engine_timeout_ms=_int("ENGINE_TIMEOUT_MS", 5000, minimum=1),
        engine_heartbeat_timeout_ms=_int(
            "ENGINE_HEARTBEAT_TIMEOUT_MS", 5000, minimum=MIN_HEARTBEAT_TIMEOUT_MS
        ),
        poller_assets=_assets("POLLER_ASSETS"),
        poller_source=os.environ.get("POLLER_SOURCE") or "simulator",
        poller_update_interval_ms=_int("POLLER_UPDATE_INTERVAL", 100, minimum=1),
        poller_replay_speed=speed,
        poller_replay_loop=_bool("POLLER_REPLAY_LOOP", False),
        poller_seed=_int("POLLER_SEED", 42),
        http_max_body_bytes=_int("HTTP_MAX_BODY_BYTES", 16 * 1024, minimum=1),
        command_rate_limit=_positive_rate("COMMAND_RATE_LIMIT", "20"),
        command_rate_burst=_int("COMMAND_RATE_BURST", 40, minimum=1),
        signin_links_per_email=_int("SIGNIN_LINKS_PER_EMAIL", 10, minimum=1),
        signin_links_per_client=_int("SIGNIN_LINKS_PER_CLIENT", 60, minimum=1),
        signin_link_window_s=_int("SIGNIN_LINK_WINDOW_S", 15 * 60, minimum=1),
        trusted_proxies=_networks("TRUSTED_PROXIES", "127.0.0.1,::1"),
        ws_max_connections=_int("WS_MAX_CONNECTIONS", 1000, minimum=1),
        ws_max_connections_per_ip=_int("WS_MAX_CONNECTIONS_PER_IP", 10, minimum=1),
        ws_max_message_bytes=_int("WS_MAX_MESSAGE_BYTES", 4096, minimum=1),
        ws_max_messages_per_s=_int("WS_MAX_MESSAGES_PER_S", 10, minimum=1),
        gateway_workers=_int("GATEWAY_WORKERS", os.cpu_count() or 1, minimum=1),
        metrics_host=os.environ.get("METRICS_HOST") or "127.0.0.1",
        engine_metrics_port=_port("ENGINE_METRICS_PORT", 9101),
        ledger_metrics_port=_port("LEDGER_METRICS_PORT", 9102),
        ledger_workers=_int("LEDGER_WORKERS", 2, minimum=1),
        ledger_linger_ms=_int("LEDGER_LINGER_MS", 100, minimum=0, maximum=1000),
        allowed_origins=_origins("ALLOWED_ORIGINS"),
        grpc_host=os.environ.get("GRPC_HOST") or "127.0.0.1",
        grpc_max_streams_per_peer=_int("GRPC_MAX_STREAMS_PER_PEER", 100, minimum=1),
        grpc_max_streams=_int("GRPC_MAX_STREAMS", 10_000, minimum=1),
        candles_max_bars=_int("CANDLES_MAX_BARS", 1000, minimum=1, maximum=MAX_CANDLE_BARS),
        signups_per_client_per_day=_int("SIGNUPS_PER_CLIENT_PER_DAY", 100, minimum=1),
        signups_per_mailbox_per_day=_int("SIGNUPS_PER_MAILBOX_PER_DAY", 3, minimum=1),
    )
    if production and need_secrets and not settings.smtp_host:
        # Without SMTP the sign-in link goes to the log: anyone who reads the log could sign
        # in as anyone. Fine on a laptop, never in production.
        raise ConfigError("SMTP_HOST is required when EXCHANGE_ENV=production")
    if production and need_secrets and settings.auth_jwt_secret == settings.email_jwt_secret:
        # One key for both: a sign-in link would pass for a session wherever the audiences
        # are not checked, and one leak would give away both.
        raise ConfigError("AUTH_JWT_SECRET and EMAIL_JWT_SECRET must differ in production")
    for old, new in RETIRED.items():
        if os.environ.get(old):
            log.warning("%s is no longer read (see %s): it is ignored", old, new)
    return settings
