"""The `exchange` command line: a wrong setting is one line naming it (no traceback), and
`exchange reconcile --help` is reconcile's help."""

from __future__ import annotations

import pytest

from launcher.cli import main
from mesh.config import EXIT_CONFIG


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
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached: the database first
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["up"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("exchange up: configuration error: cannot reach the database at "
                           "DATABASE_URL: connection failed"), last  # fmt: skip


def test_reconcile_help_is_reconciles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["reconcile", "--help"])
    assert done.value.code == 0
    assert "reconcile" in capsys.readouterr().out.splitlines()[0]
