"""EXCHANGE_ENV: only known values, and production that refuses to start without its secrets
and SMTP (a logged sign-in link is a session for whoever reads the log); issue 14's settings
with their defaults."""

from __future__ import annotations

import logging

import pytest

from mesh import config
from mesh.config import ConfigError, load_settings

SECRETS = {
    "AUTH_JWT_SECRET": "auth-secret-from-env-0123456789abcdef",
    "EMAIL_JWT_SECRET": "email-secret-from-env-0123456789abcdef",
}
NEW_LIMITS = (
    "ALLOWED_ORIGINS",
    "GRPC_HOST",
    "GRPC_MAX_STREAMS_PER_PEER",
    "GRPC_MAX_STREAMS",
    "CANDLES_MAX_BARS",
    "SIGNUPS_PER_CLIENT_PER_DAY",
    "SIGNUPS_PER_MAILBOX_PER_DAY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXCHANGE_ENV", "SMTP_HOST", *SECRETS, *NEW_LIMITS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "_GENERATED_SECRETS", {})


def production(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "production")
    for name, value in {**SECRETS, "SMTP_HOST": "smtp.example", **env}.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("typo", ["prod", "producton", "staging", "live", " ", "production!"])
def test_an_unknown_environment_is_refused_naming_the_allowed_values(
    monkeypatch: pytest.MonkeyPatch, typo: str
) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", typo)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="EXCHANGE_ENV must be one of") as raised:
        load_settings()
    for allowed in ("development", "production", "test"):
        assert allowed in str(raised.value)


@pytest.mark.parametrize("spelling", ["production", "Production", " PRODUCTION "])
def test_production_in_any_case_is_production(
    monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    production(monkeypatch, EXCHANGE_ENV=spelling)
    settings = load_settings()
    assert settings.production and settings.env == "production"


@pytest.mark.parametrize("env", ["development", "test"])
def test_known_non_production_values(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", env)
    settings = load_settings()
    assert settings.env == env and not settings.production


def test_production_without_smtp_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, SMTP_HOST="")
    with pytest.raises(ConfigError, match="SMTP_HOST is required"):
        load_settings()
    # The engine and poller mail nothing: they start.
    assert load_settings(need_secrets=False).production


def test_development_without_smtp_starts() -> None:
    assert load_settings().smtp_host is None


@pytest.mark.parametrize("missing", list(SECRETS))
def test_production_without_a_secret_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    production(monkeypatch, **{missing: ""})
    with pytest.raises(ConfigError, match=missing):
        load_settings()


def test_new_limit_defaults() -> None:
    settings = load_settings()
    assert settings.allowed_origins == ()
    assert settings.grpc_host == "127.0.0.1"
    assert (settings.grpc_max_streams_per_peer, settings.grpc_max_streams) == (100, 10_000)
    assert settings.candles_max_bars == 1000
    assert settings.signups_per_client_per_day == 100
    assert settings.signups_per_mailbox_per_day == 3


def test_new_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ALLOWED_ORIGINS": " https://Desk.Example , http://localhost:5173",
        "GRPC_HOST": "::",
        "GRPC_MAX_STREAMS_PER_PEER": "3",
        "GRPC_MAX_STREAMS": "7",
        "CANDLES_MAX_BARS": "50",
        "SIGNUPS_PER_CLIENT_PER_DAY": "5",
        "SIGNUPS_PER_MAILBOX_PER_DAY": "2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.allowed_origins == ("https://desk.example", "http://localhost:5173")
    assert settings.grpc_host == "::"
    assert (settings.grpc_max_streams_per_peer, settings.grpc_max_streams) == (3, 7)
    assert (settings.candles_max_bars, settings.signups_per_client_per_day) == (50, 5)
    assert settings.signups_per_mailbox_per_day == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALLOWED_ORIGINS", "desk.example"),
        ("ALLOWED_ORIGINS", "https://desk.example/app"),
        ("ALLOWED_ORIGINS", "ftp://desk.example"),
        ("GRPC_MAX_STREAMS_PER_PEER", "0"),
        ("GRPC_MAX_STREAMS", "0"),
        ("CANDLES_MAX_BARS", "0"),
        ("SIGNUPS_PER_CLIENT_PER_DAY", "0"),
        ("SIGNUPS_PER_MAILBOX_PER_DAY", "0"),
    ],
)
def test_bad_new_limits_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


async def test_the_mailer_never_logs_a_link_in_production(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    from gateway_svc.mailer import Mailer, MailError

    production(monkeypatch)
    settings = dataclasses.replace(load_settings(), smtp_host=None)
    link = "http://x/api/v1/user/signin/post?token=secret-token"
    with caplog.at_level(logging.DEBUG), pytest.raises(MailError):
        await Mailer(settings).send_sign_in_link("a@b.co", link, signup=True)
    assert "secret-token" not in caplog.text
    # In development the log is the way in (SPEC section 2).
    monkeypatch.setenv("EXCHANGE_ENV", "development")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        await Mailer(dataclasses.replace(settings, env="development")).send_sign_in_link(
            "a@b.co", link, signup=True
        )
    assert "secret-token" in caplog.text
