"""The `exchange` command line: a wrong setting is one line naming it (no traceback), and
`exchange reconcile --help` is reconcile's help."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.database import EMBEDDED_POSTGRES
from mesh import ports
from mesh.config import EXIT_CONFIG
from mesh.embedded import free_port
from tests.exchange_command import run_exchange


@pytest.mark.parametrize("command", ["engine", "up", "migrate"])
def test_a_wrong_setting_is_one_line_naming_it(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTP_PORT", "abc")
    assert main([command]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert err == (
        f"exchange {command}: configuration error: HTTP_PORT must be an integer, got 'abc'"
    )


def test_an_unreachable_database_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path))
    for name in ("HTTP_PORT", "GRPC_PORT", "ENGINE_METRICS_PORT", "LEDGER_METRICS_PORT"):
        monkeypatch.setenv(name, "0")  # any free one: what is tested is the database's line
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached: the database first
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["up"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("exchange up: configuration error: cannot reach the database at "
                           "DATABASE_URL: connection failed"), last  # fmt: skip


def test_up_names_a_port_in_use_before_it_starts_anything(
    taken: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A second exchange on the machine: told at once, before the embedded servers start and
    the schema migrates, not when the gateway comes to bind its port and the exchange stops."""
    monkeypatch.setattr(ports, "PORT_RELEASE_S", 0.2)
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HTTP_PORT", str(taken))
    monkeypatch.setenv("GRPC_PORT", str(free_port()))
    monkeypatch.setenv("ENGINE_METRICS_PORT", "0")
    monkeypatch.setenv("LEDGER_METRICS_PORT", "0")
    for name in ("REDIS_URL", "DATABASE_URL"):  # both embedded: nothing of them may start
        monkeypatch.delenv(name, raising=False)
    assert main(["up"]) == EXIT_CONFIG
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"exchange up: configuration error: HTTP_PORT: cannot listen for HTTP on "
        f"127.0.0.1:{taken}: [Errno 98] Address already in use"
    )
    assert not (tmp_path / "redis").exists()
    assert not (tmp_path / EMBEDDED_POSTGRES).exists()


def test_reconcile_help_is_reconciles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["reconcile", "--help"])
    assert done.value.code == 0
    assert "reconcile" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_LEVEL", "verbose",
         "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json, got 'xml'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["engine", "gateway", "poller", "up"])
def test_a_wrong_log_setting_is_one_line_naming_it(
    command: str,
    variable: str,
    value: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main([command]) == EXIT_CONFIG
    assert capsys.readouterr().err.strip() == f"exchange {command}: configuration error: {message}"


@pytest.mark.parametrize("command", ["up", "migrate"])
@pytest.mark.parametrize(
    "url", ["notaurl", "postgresql://me:S3cretPassw0rd@db:notaport/x", "password=S3cret Passw0rd"]
)
def test_a_database_url_that_is_none_is_one_line_not_quoting_it(
    command: str,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: object,
) -> None:
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path))
    for name in ("AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"):  # no warning about generating them
        monkeypatch.setenv(name, f"a-test-secret-for-{name}")
    monkeypatch.setenv("DATABASE_URL", url)
    assert main([command]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert err == (
        f"exchange {command}: configuration error: DATABASE_URL: not a PostgreSQL URL "
        "(postgresql://user:password@host:port/db) or libpq connection string "
        "(host=... dbname=...)"
    )


@pytest.mark.parametrize("service", ["gateway", "ledger"])
@pytest.mark.parametrize("url", ["postgres//x", "notaurl"])
def test_a_service_run_alone_names_a_database_url_that_is_none(
    service: str, url: str, tmp_path: Path
) -> None:
    """`exchange gateway` and `exchange ledger` check DATABASE_URL as `exchange up` does, before
    they start anything (a gateway's workers would each have died of it, and been restarted)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # valid, never reached
        "EXCHANGE_DATA_DIR": str(tmp_path),
        "GATEWAY_WORKERS": "2",
        "HTTP_PORT": str(free_port()),
        "GRPC_PORT": str(free_port()),
        "LEDGER_METRICS_PORT": "0",
    }
    done = run_exchange(service, env)  # a gateway restarting its workers forever never ends
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert done.stderr.strip() == (
        f"exchange {service}: configuration error: DATABASE_URL: not a PostgreSQL URL "
        "(postgresql://user:password@host:port/db) or libpq connection string "
        "(host=... dbname=...)"
    )


@pytest.mark.parametrize(
    ("command", "unset", "workers"),
    [
        ("engine", "REDIS_URL", "1"),
        ("poller", "REDIS_URL", "1"),
        ("ledger", "REDIS_URL and DATABASE_URL", "1"),
        ("gateway", "REDIS_URL and DATABASE_URL", "1"),
        ("gateway", "REDIS_URL and DATABASE_URL", "2"),
        ("migrate", "DATABASE_URL", "1"),
    ],
)
def test_a_command_run_alone_without_its_servers_names_them(
    command: str, unset: str, workers: str, tmp_path: Path
) -> None:
    """Only `exchange up` starts embedded Redis and PostgreSQL: a command run alone without
    their URLs is a configuration error naming every one it lacks (exit status 2, which
    tells a supervisor not to restart it), not a plain exit 1."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")},
        "EXCHANGE_DATA_DIR": str(tmp_path),
        "GATEWAY_WORKERS": workers,
        "HTTP_PORT": str(free_port()),
        "GRPC_PORT": str(free_port()),
        "ENGINE_METRICS_PORT": "0",
        "LEDGER_METRICS_PORT": "0",
    }
    done = run_exchange(command, env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    verb = "are" if " and " in unset else "is"
    assert done.stderr.strip().endswith(
        f"{unset} {verb} required for `exchange {command}` "
        "(`exchange up` starts its own Redis and PostgreSQL when they are unset)"
    ), done.stderr
