"""The engine's write-ahead journal: every input that changed state, in the order applied.

Segments `journal/<first_seq>.log` hold records framed as
`[u32 body length][u32 crc32(body)][body]`, body = `[u64 first_seq][u8 kind][u8 id length]
[stream entry id][protobuf payload]`. `first_seq` is the core's `seq` before the input.

Group commit: `append` only buffers; `commit` writes and fsyncs once for the whole batch, and
the engine sends no answer or event before `commit` returns. A crash can only lose inputs whose
answers never left, and those stream entries were never acknowledged, so they come back.
"""

from __future__ import annotations

import itertools
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine_svc.service.files import fsync_directory
from mesh.private_files import open_private, private_directory

log = logging.getLogger(__name__)

KIND_COMMAND_V1 = 1
"""A command journaled before trade ids carried their command's seq: replayed under that
rule (`Engine.legacy_trade_ids`), so its trade keeps the id its answer gave."""
KIND_PRICES = 2
KIND_COMMAND = 3
"""A command, its trade id from its user, order id and seq (`model.trade_id_for`)."""
COMMAND_KINDS = (KIND_COMMAND_V1, KIND_COMMAND)

_FRAME = struct.Struct("<II")
_HEAD = struct.Struct("<QBB")
_SUFFIX = ".log"


class JournalCorrupt(RuntimeError):
    """A record inside a completed segment is damaged: inputs would be lost."""


@dataclass(frozen=True, slots=True)
class Record:
    first_seq: int
    kind: int
    entry_id: bytes
    payload: bytes


def encode(record: Record) -> bytes:
    body = _HEAD.pack(record.first_seq, record.kind, len(record.entry_id)) + record.entry_id
    body += record.payload
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{_SUFFIX}"


def segments(directory: Path) -> list[tuple[int, Path]]:
    """(first_seq, path) of every segment, oldest first."""
    if not directory.exists():
        return []
    found = [
        (int(p.name[: -len(_SUFFIX)]), p)
        for p in directory.iterdir()
        if p.name.endswith(_SUFFIX) and p.name[: -len(_SUFFIX)].isdigit()
    ]
    return sorted(found)


def _read_segment(path: Path) -> tuple[list[Record], int, bool]:
    """Records of one segment, the byte length of its good prefix, and whether a tail was torn."""
    data = path.read_bytes()
    records: list[Record] = []
    offset = 0
    while offset < len(data):
        if offset + _FRAME.size > len(data):
            return records, offset, True
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        body = data[start : start + length]
        if len(body) < length or zlib.crc32(body) != crc or length < _HEAD.size:
            return records, offset, True
        first_seq, kind, id_len = _HEAD.unpack_from(body)
        entry_id = body[_HEAD.size : _HEAD.size + id_len]
        records.append(Record(first_seq, kind, entry_id, body[_HEAD.size + id_len :]))
        offset = start + length
    return records, offset, False


def read_from(directory: Path, from_seq: int) -> Iterator[Record]:
    """Every record with first_seq >= from_seq, in order.

    Only the newest segment may end in a torn record (a crash mid-write): it is cut off there,
    since nothing after it was answered. Damage anywhere else raises JournalCorrupt.
    """
    all_segments = segments(directory)
    relevant = [
        (start, path)
        for i, (start, path) in enumerate(all_segments)
        if i + 1 == len(all_segments) or all_segments[i + 1][0] > from_seq
    ]
    for index, (_, path) in enumerate(relevant):
        records, good_bytes, torn = _read_segment(path)
        if torn:
            if index + 1 < len(relevant):
                raise JournalCorrupt(f"{path} is damaged at byte {good_bytes}")
            log.warning("journal %s ends in a torn record at byte %d: cut off", path, good_bytes)
            with path.open("r+b") as handle:
                handle.truncate(good_bytes)
                os.fsync(handle.fileno())
        for record in records:
            if record.first_seq >= from_seq:
                yield record


class Journal:
    """Appends records to the newest segment; one fsync per committed batch."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        self._buffer: list[bytes] = []
        self._file: object | None = None
        self._fd = -1
        self.records_written = 0
        self.commits = 0
        self.last_fsync_s = 0.0
        self._unsynced = False
        """How long the last commit's fdatasync took (for the metrics)."""

    def open(self, next_seq: int) -> None:
        """Start a fresh segment at `next_seq` (after recovery or a snapshot)."""
        self.commit()
        self._close_file()
        private_directory(self.directory)
        path = self.directory / _segment_name(next_seq)
        self._fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        if self.fsync:
            fsync_directory(self.directory)

    def append(self, record: Record) -> None:
        self._buffer.append(encode(record))

    def append_entry(self, first_seq: int, kind: int, entry_id: bytes, payload: bytes) -> None:
        """`append` without building a Record: the live path journals every command here."""
        body = b"%b%b%b" % (_HEAD.pack(first_seq, kind, len(entry_id)), entry_id, payload)
        self._buffer.append(_FRAME.pack(len(body), zlib.crc32(body)) + body)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def commit(self) -> None:
        """Write the buffered records and make them durable (fsync unless disabled)."""
        self.write()
        self.sync()  # also what an earlier `write` left unsynced

    def write(self) -> bool:
        """Write the buffered records to the segment, not yet durable; False if none.

        `write` then `sync` is `commit` in two steps: the engine writes a batch's records when
        it has applied it, and its committer syncs them, once for every batch waiting, before
        it publishes their answers."""
        if not self._buffer:
            return False
        if self._fd < 0:
            raise RuntimeError("journal is not open")
        data = b"".join(self._buffer)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.records_written += len(self._buffer)
        self._buffer.clear()
        self._unsynced = True
        return True

    def sync(self) -> None:
        """Make everything written so far durable (fdatasync unless fsync is off)."""
        if not self._unsynced:
            return
        self._unsynced = False
        if self.fsync:
            started = time.perf_counter()
            os.fdatasync(self._fd)
            self.last_fsync_s = time.perf_counter() - started
        self.commits += 1

    def prune_before(self, keep_from_seq: int) -> int:
        """Delete segments wholly older than `keep_from_seq`; returns how many."""
        all_segments = segments(self.directory)
        removed = 0
        for (_, path), (next_start, _) in itertools.pairwise(all_segments):
            if next_start <= keep_from_seq:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _close_file(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        self.commit()
        self._close_file()
