"""Journal and snapshot files are 0600 in 0700 folders (they hold every user's e-mail), created
that way rather than fixed up afterwards."""

from __future__ import annotations

import os
from pathlib import Path

from engine_svc.service import journal, snapshots
from engine_svc.service.journal import Journal, Record
from tests.file_modes import mode


def test_journal_segments_are_private(tmp_path: Path, open_umask: None, no_chmod: None) -> None:
    directory = tmp_path / "snapshots" / "journal"
    j = Journal(directory, fsync=False)
    j.open(0)
    j.append(Record(0, journal.KIND_COMMAND, b"1-0", b"alice@example.com"))
    j.commit()
    j.close()
    (segment,) = [path for _, path in journal.segments(directory)]
    assert mode(segment) == 0o600
    assert mode(directory) == 0o700


def test_snapshots_are_private(tmp_path: Path, open_umask: None, no_chmod: None) -> None:
    directory = tmp_path / "snaps"
    data = {"seq": 1, "engine": {"accounts": [["alice@example.com", 1]]}}
    path = snapshots.write(directory, data, 1000, keep=10)
    assert mode(path) == 0o600
    assert mode(directory / snapshots.LATEST) == 0o600
    assert mode(directory) == 0o700


def test_existing_loose_folders_and_segments_are_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "snaps"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    snapshots.write(directory, {"seq": 1, "engine": {}}, 1000, keep=10)
    assert mode(directory) == 0o700
    j = Journal(directory, fsync=False)
    segment = directory / "00000000000000000000.journal"
    segment.touch()
    os.chmod(segment, 0o644)
    j.open(0)
    j.close()
    found = [path for _, path in journal.segments(directory)]
    assert found and all(mode(path) == 0o600 for path in found)
