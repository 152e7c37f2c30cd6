"""Snapshots keep the seed's format, verify their checksum and fall back past damage."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from engine_svc.service import snapshots
from engine_svc.service.snapshots import SnapshotError


def _data(seq: int) -> dict[str, object]:
    return {"seq": seq, "engine": {"accounts": [["u1", 50_000_000]], "seq": seq}}


def test_format_is_the_seeds(tmp_path: Path) -> None:
    path = snapshots.write(tmp_path, _data(7), 1_763_900_000_000, keep=10)
    assert path.name == "1763900000000.json.gz"
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert set(document) == {"version", "timestamp", "checksum", "data"}
    assert document["timestamp"] == 1_763_900_000_000
    body = json.dumps(document["data"], separators=(",", ":")).encode()
    assert document["checksum"] == hashlib.sha256(body).hexdigest()
    assert (tmp_path / "latest.json.gz").read_bytes() == path.read_bytes()
    assert snapshots.peek_seq(path) == 7


def test_round_trip(tmp_path: Path) -> None:
    path = snapshots.write(tmp_path, _data(3), 1000, keep=10)
    timestamp, data = snapshots.decode(path.read_bytes())
    assert (timestamp, data) == (1000, _data(3))


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # truncated file
        lambda raw: b"not gzip at all",
        lambda raw: gzip.compress(gzip.decompress(raw).replace(b'"seq":3', b'"seq":4')),
        lambda raw: gzip.compress(gzip.decompress(raw).replace(b'"version":1', b'"version":9')),
    ],
    ids=["truncated", "garbage", "checksum", "version"],
)
def test_damage_is_detected(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    raw = snapshots.write(tmp_path, _data(3), 1000, keep=10).read_bytes()
    with pytest.raises(SnapshotError):
        snapshots.decode(damage(raw))


def test_keeps_the_newest_and_falls_back(tmp_path: Path) -> None:
    for i in range(5):
        snapshots.write(tmp_path, _data(i), 1000 + i, keep=3)
    kept = snapshots.timestamped(tmp_path)
    assert [p.name for p in kept] == ["1004.json.gz", "1003.json.gz", "1002.json.gz"]
    newest = kept[0]
    newest.write_bytes(newest.read_bytes()[:40])  # corrupt the newest
    found = snapshots.load_newest(tmp_path)
    assert found is not None
    path, data = found
    assert path.name == "1003.json.gz" and data["seq"] == 3


def test_nothing_to_load(tmp_path: Path) -> None:
    assert snapshots.load_newest(tmp_path) is None
    assert snapshots.load_newest(tmp_path / "missing") is None
