"""The journal keeps every committed record, cuts a torn tail, and refuses silent loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_svc.service import journal
from engine_svc.service.journal import Journal, JournalCorrupt, Record


def _record(seq: int, kind: int = journal.KIND_COMMAND) -> Record:
    return Record(seq, kind, f"{1000 + seq}-0".encode(), f"payload-{seq}".encode() * 3)


def test_committed_records_read_back_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=True)
    j.open(0)
    for seq in range(5):
        j.append(_record(seq, journal.KIND_PRICES if seq % 2 else journal.KIND_COMMAND))
    assert list(journal.read_from(tmp_path, 0)) == []  # nothing durable before commit
    j.commit()
    j.close()
    got = list(journal.read_from(tmp_path, 0))
    assert got == [
        _record(s, journal.KIND_PRICES if s % 2 else journal.KIND_COMMAND) for s in range(5)
    ]
    assert [r.first_seq for r in journal.read_from(tmp_path, 3)] == [3, 4]


def test_records_span_segments(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=False)
    j.open(0)
    j.append(_record(0))
    j.append(_record(1))
    j.open(2)  # a snapshot at seq 2 starts a new segment
    j.append(_record(2))
    j.close()
    assert [s for s, _ in journal.segments(tmp_path)] == [0, 2]
    assert [r.first_seq for r in journal.read_from(tmp_path, 0)] == [0, 1, 2]
    assert [r.first_seq for r in journal.read_from(tmp_path, 2)] == [2]


def test_torn_tail_of_newest_segment_is_cut(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=False)
    j.open(0)
    j.append(_record(0))
    j.append(_record(1))
    j.close()
    path = journal.segments(tmp_path)[0][1]
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])  # a crash in the middle of writing record 1
    assert [r.first_seq for r in journal.read_from(tmp_path, 0)] == [0]
    assert path.stat().st_size == len(journal.encode(_record(0)))
    # appending after the cut continues cleanly
    j2 = Journal(tmp_path, fsync=False)
    j2.open(1)
    j2.append(_record(1))
    j2.close()
    assert [r.first_seq for r in journal.read_from(tmp_path, 0)] == [0, 1]


def test_damage_inside_an_older_segment_is_an_error(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=False)
    j.open(0)
    j.append(_record(0))
    j.open(1)
    j.append(_record(1))
    j.close()
    older = journal.segments(tmp_path)[0][1]
    data = bytearray(older.read_bytes())
    data[-1] ^= 0xFF
    older.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        list(journal.read_from(tmp_path, 0))


def test_prune_keeps_what_a_snapshot_needs(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=False)
    for start in (0, 10, 20):
        j.open(start)
        j.append(_record(start))
    j.close()
    assert j.prune_before(15) == 1  # segment 0 ends before 10 <= 15; segment 10 may hold 15
    assert [s for s, _ in journal.segments(tmp_path)] == [10, 20]
    assert j.prune_before(20) == 1
    assert [s for s, _ in journal.segments(tmp_path)] == [20]
