"""Settings from the environment: secrets required in production, generated with a warning in
development, and every abuse limit read with its default and checked."""

from __future__ import annotations

import ipaddress
import logging
import re
from decimal import Decimal

import pytest

from mesh import config, logs
from mesh.config import ConfigError, load_settings

LIMIT_VARS = (
    "HTTP_MAX_BODY_BYTES",
    "COMMAND_RATE_LIMIT",
    "COMMAND_RATE_BURST",
    "SIGNIN_LINKS_PER_EMAIL",
    "SIGNIN_LINKS_PER_CLIENT",
    "SIGNIN_LINK_WINDOW_S",
    "TRUSTED_PROXIES",
    "WS_MAX_CONNECTIONS",
    "WS_MAX_CONNECTIONS_PER_IP",
    "WS_MAX_MESSAGE_BYTES",
    "WS_MAX_MESSAGES_PER_S",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXCHANGE_ENV", "AUTH_JWT_SECRET", "EMAIL_JWT_SECRET", *LIMIT_VARS):
        monkeypatch.delenv(name, raising=False)
    # Generated secrets are kept per process; start each test without any.
    monkeypatch.setattr(config, "_GENERATED_SECRETS", {})


@pytest.mark.parametrize("missing", ["AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"])
def test_production_requires_each_secret(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "production")
    for name in ("AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"):
        if name != missing:
            monkeypatch.setenv(name, "a-long-enough-secret-" + name)
    with pytest.raises(ConfigError, match=missing):
        load_settings()


def test_production_uses_the_given_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "production")
    monkeypatch.setenv("AUTH_JWT_SECRET", "auth-secret-from-env-0123456789abcdef")
    monkeypatch.setenv("EMAIL_JWT_SECRET", "email-secret-from-env-0123456789abcdef")
    monkeypatch.setenv("SMTP_HOST", "smtp.example")  # production also requires it
    settings = load_settings()
    assert settings.production
    assert (settings.auth_jwt_secret, settings.email_jwt_secret) == (
        "auth-secret-from-env-0123456789abcdef",
        "email-secret-from-env-0123456789abcdef",
    )


@pytest.mark.parametrize(
    ("auth", "email", "complaint"),
    [
        ("x", "y" * 40, "AUTH_JWT_SECRET must be at least 32 characters"),
        ("y" * 40, "short", "EMAIL_JWT_SECRET must be at least 32 characters"),
        ("z" * 40, "z" * 40, "AUTH_JWT_SECRET and EMAIL_JWT_SECRET must differ"),
    ],
)
def test_production_refuses_weak_secrets(
    monkeypatch: pytest.MonkeyPatch, auth: str, email: str, complaint: str
) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "production")
    monkeypatch.setenv("AUTH_JWT_SECRET", auth)
    monkeypatch.setenv("EMAIL_JWT_SECRET", email)
    monkeypatch.setenv("SMTP_HOST", "smtp.example")
    with pytest.raises(ConfigError, match=complaint):
        load_settings()


def test_a_retired_setting_is_named_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ENGINE_IDEMPOTENCY_WINDOW", "100000")
    load_settings()
    assert "ENGINE_IDEMPOTENCY_WINDOW is no longer read (see ENGINE_IDEMPOTENCY_PER_USER)" in (
        caplog.text
    )


def test_development_generates_secrets_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mesh.config"):
        first = load_settings()
    assert not first.production
    assert len(first.auth_jwt_secret) >= 32 and len(first.email_jwt_secret) >= 32
    assert first.auth_jwt_secret != first.email_jwt_secret
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "AUTH_JWT_SECRET is not set" in warned
    assert "EMAIL_JWT_SECRET is not set" in warned
    # One value per process: a second load (the facade, the gRPC server) signs alike.
    assert load_settings().auth_jwt_secret == first.auth_jwt_secret


def test_services_that_sign_nothing_need_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "production")
    assert load_settings(need_secrets=False).auth_jwt_secret == ""


def test_limit_defaults() -> None:
    settings = load_settings()
    assert settings.http_max_body_bytes == 16 * 1024
    assert settings.command_rate_limit == Decimal(20)
    assert settings.command_rate_burst == 40
    assert settings.signin_links_per_email == 10
    assert settings.signin_links_per_client == 60
    assert settings.signin_link_window_s == 900
    assert settings.trusted_proxies == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.ws_max_connections == 1000
    assert settings.ws_max_connections_per_ip == 10
    assert settings.ws_max_message_bytes == 4096
    assert settings.ws_max_messages_per_s == 10


def test_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "HTTP_MAX_BODY_BYTES": "2048",
        "COMMAND_RATE_LIMIT": "2.5",
        "COMMAND_RATE_BURST": "5",
        "SIGNIN_LINKS_PER_EMAIL": "3",
        "SIGNIN_LINKS_PER_CLIENT": "30",
        "SIGNIN_LINK_WINDOW_S": "60",
        "TRUSTED_PROXIES": " 10.0.0.0/8 , 192.168.1.7,fd00::/8 ",
        "WS_MAX_CONNECTIONS": "50",
        "WS_MAX_CONNECTIONS_PER_IP": "2",
        "WS_MAX_MESSAGE_BYTES": "1024",
        "WS_MAX_MESSAGES_PER_S": "3",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.http_max_body_bytes == 2048
    assert settings.command_rate_limit == Decimal("2.5")
    assert settings.command_rate_burst == 5
    assert (settings.signin_links_per_email, settings.signin_links_per_client) == (3, 30)
    assert settings.signin_link_window_s == 60
    assert [str(n) for n in settings.trusted_proxies] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "fd00::/8",
    ]
    assert (settings.ws_max_connections, settings.ws_max_connections_per_ip) == (50, 2)
    assert (settings.ws_max_message_bytes, settings.ws_max_messages_per_s) == (1024, 3)


def test_an_empty_trusted_proxies_trusts_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "")
    assert load_settings().trusted_proxies == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTP_MAX_BODY_BYTES", "0"),
        ("HTTP_MAX_BODY_BYTES", "16k"),
        ("COMMAND_RATE_LIMIT", "0"),
        ("COMMAND_RATE_LIMIT", "-1"),
        ("COMMAND_RATE_LIMIT", "NaN"),
        ("COMMAND_RATE_LIMIT", "Infinity"),
        ("COMMAND_RATE_LIMIT", "fast"),
        ("COMMAND_RATE_BURST", "0"),
        ("SIGNIN_LINKS_PER_EMAIL", "0"),
        ("SIGNIN_LINK_WINDOW_S", "-5"),
        ("TRUSTED_PROXIES", "127.0.0.1,proxy.internal"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("WS_MAX_CONNECTIONS", "0"),
        ("WS_MAX_CONNECTIONS_PER_IP", "ten"),
        ("WS_MAX_MESSAGE_BYTES", "0"),
        ("WS_MAX_MESSAGES_PER_S", "0"),
        # Past 65535 the kernel would listen on the number modulo 65536 (70000: 4464).
        ("HTTP_PORT", "70000"),
        ("CANDLES_MAX_BARS", "5001"),  # past the bound the database applies anyway
        ("GRPC_PORT", "65536"),
        ("ENGINE_METRICS_PORT", "-1"),
        ("SMTP_PORT", "99999"),
    ],
)
def test_bad_limits_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_pending_order_cap_is_a_setting(monkeypatch) -> None:
    monkeypatch.delenv("ENGINE_MAX_PENDING_ORDERS_PER_USER", raising=False)
    assert load_settings().max_pending_orders_per_user == 200
    monkeypatch.setenv("ENGINE_MAX_PENDING_ORDERS_PER_USER", "7")
    assert load_settings().max_pending_orders_per_user == 7
    monkeypatch.setenv("ENGINE_MAX_PENDING_ORDERS_PER_USER", "-1")
    with pytest.raises(ConfigError):
        load_settings()


def test_ledger_linger_defaults_to_100_ms_and_0_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEDGER_LINGER_MS", raising=False)
    assert load_settings().ledger_linger_ms == 100
    monkeypatch.setenv("LEDGER_LINGER_MS", "0")
    assert load_settings().ledger_linger_ms == 0
    monkeypatch.setenv("LEDGER_LINGER_MS", "1000")
    assert load_settings().ledger_linger_ms == 1000


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1001", "LEDGER_LINGER_MS must be at most 1000, got 1001"),
        ("-1", "LEDGER_LINGER_MS must be at least 0, got -1"),
        ("50ms", "LEDGER_LINGER_MS must be an integer, got '50ms'"),
    ],
)
def test_ledger_linger_out_of_bounds_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("LEDGER_LINGER_MS", value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings()


def test_engine_heartbeat_timeout_defaults_to_5_s_and_is_at_least_two_beats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENGINE_HEARTBEAT_TIMEOUT_MS", raising=False)
    assert load_settings().engine_heartbeat_timeout_ms == 5000
    monkeypatch.setenv("ENGINE_HEARTBEAT_TIMEOUT_MS", "2000")  # two beats of one a second
    assert load_settings().engine_heartbeat_timeout_ms == 2000
    monkeypatch.setenv("ENGINE_HEARTBEAT_TIMEOUT_MS", "1999")
    message = "ENGINE_HEARTBEAT_TIMEOUT_MS must be at least 2000, got 1999"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings()


@pytest.mark.parametrize("url", ["rediss://h:6380/0", "localhost:6379"])
def test_a_redis_url_the_hot_paths_cannot_speak_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(ConfigError, match="REDIS_URL must start with redis:// or unix://"):
        load_settings(need_secrets=False)


def test_a_refused_redis_url_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "rediss://:S3cretPassw0rd@redis.internal:6380/0")
    with pytest.raises(ConfigError) as refused:
        load_settings(need_secrets=False)
    assert str(refused.value) == (
        "REDIS_URL must start with redis:// or unix:// (no TLS), "
        "got 'rediss://***@redis.internal:6380/0'"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rediss://user:S3cret@redis.internal:6380/0", "rediss://***@redis.internal:6380/0"),
        ("redis://:S3/cr@t@h/0", "redis://***@h/0"),  # a stray / or @ in it: still hidden
        ("postgresql://me:S3cret@db/x?sslmode=require", "postgresql://***@db/x?sslmode=require"),
        ("unix:///run/redis.sock?db=0&password=S3cret", "unix:///run/redis.sock?db=0&password=***"),
        ("host=/run/pg password='S3 cret' dbname=x", "host=/run/pg password=*** dbname=x"),
        ("me:S3cret@redis.internal:6379", "***@redis.internal:6379"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_a_url_in_a_message_shows_no_credentials(url: str, shown: str) -> None:
    assert config.redacted(url) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('FATAL: role "bob@example.com" does not exist',
         'FATAL: role "bob@example.com" does not exist'),
        ("failed: postgresql://u:p@h/db and mail admin@x.org",
         "failed: postgresql://***@h/db and mail admin@x.org"),
        ("connection to host=db password=S3cret failed",
         "connection to host=db password=*** failed"),
    ],
)  # fmt: skip
def test_a_driver_message_keeps_its_words_and_loses_its_credentials(text: str, shown: str) -> None:
    assert config.redacted_text(text) == shown


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_LEVEL", "verbose",
         "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json, got 'xml'"),
    ],
)  # fmt: skip
def test_log_settings_are_checked_like_the_others(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        logs.setup("engine")
    monkeypatch.setenv("LOG_LEVEL", "warn")  # any case, Python's other names too
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert (config.log_level(), config.log_format()) == ("WARN", "json")
    monkeypatch.setenv("LOG_LEVEL", "")  # empty: the default, as for every setting
    assert config.log_level() == "INFO"
