"""Recovery's journal decoder (a forked child): every way it can fail leaves recovery exact."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from engine_svc.service import journal, prefetch, snapshots
from engine_svc.service.recovery import recover
from tests.engine_service.test_recovery import ASSETS, Live, _new, _restore


def _live(directory: Path, snapshots_taken: int) -> Live:
    live = Live(directory)
    rng = random.Random(11)
    for _ in range(snapshots_taken):
        live.random_traffic(rng, 120)
        live.snapshot()
    live.random_traffic(rng, 120)
    return live


def test_the_child_decodes_what_replay_applies(tmp_path: Path) -> None:
    live = _live(tmp_path, 1)
    recovered = recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)
    assert recovered.replayed > 50
    assert recovered.engine.state_hash() == live.engine.state_hash()


def test_a_newest_snapshot_that_fails_its_checksum_sends_replay_further_back(
    tmp_path: Path,
) -> None:
    live = _live(tmp_path, 2)
    newest = snapshots.timestamped(tmp_path)[0]
    text = bytearray(snapshots.igzip.decompress(newest.read_bytes()))
    text[-10] ^= 1  # inside the body: the head (and its seq) still reads
    newest.write_bytes(snapshots.igzip.compress(bytes(text)))
    assert snapshots.peek_seq(newest) is not None  # so the child started at its seq
    recovered = recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)
    assert recovered.snapshot != newest
    assert recovered.engine.state_hash() == live.engine.state_hash()


def _exit_at_once(*_: object) -> None:
    os._exit(3)


def test_a_child_that_dies_leaves_the_decoding_to_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    live = _live(tmp_path, 1)
    monkeypatch.setattr(prefetch, "_decode_into", _exit_at_once)
    with caplog.at_level(logging.WARNING, logger=prefetch.__name__):
        recovered = recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)
    assert "journal decoder exited with 3" in caplog.text
    assert recovered.engine.state_hash() == live.engine.state_hash()


def test_a_damaged_segment_stops_recovery_through_the_child(tmp_path: Path) -> None:
    _live(tmp_path, 1)  # the snapshot opened a second segment
    for path in snapshots.timestamped(tmp_path):
        path.unlink()
    (tmp_path / snapshots.LATEST).unlink()
    first = journal.segments(tmp_path / "journal")[0][1]
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(journal.JournalCorrupt, match="damaged"):
        recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)


def _no_space(*_: object, **__: object) -> None:
    raise OSError(28, "No space left on device")


def test_no_room_for_the_decoders_file_leaves_the_decoding_to_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    live = _live(tmp_path, 1)
    monkeypatch.setattr(prefetch.tempfile, "TemporaryFile", _no_space)
    with caplog.at_level(logging.WARNING, logger=prefetch.__name__):
        recovered = recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)
    assert "journal decoder not started" in caplog.text
    assert recovered.replayed > 50
    assert recovered.engine.state_hash() == live.engine.state_hash()
