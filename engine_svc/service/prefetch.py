"""Recovery's journal decoder: the journal read and decoded in a forked child process while
this one loads and restores the snapshot, so that replay only applies.

Decoding a journal record (read, CRC, protobuf, conversion to core types) costs three times
what applying it costs. In a child on the other core it overlaps the snapshot's load and
restore. The child writes pickled batches of flat tuples to an unlinked temporary file and
exits; the parent reads them afterwards. Pipes would stall the child until the parent reads,
and a reader thread would fight the snapshot load for the GIL. If the child fails, the parent
decodes the journal itself, as it always did.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import tempfile
from collections.abc import Iterator, Mapping
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any

from engine_svc.core.types import Tick
from engine_svc.service import journal
from engine_svc.service.convert import command_from_tuple, command_to_tuple
from engine_svc.service.inputs import Decoded, decode_command, decode_prices

log = logging.getLogger(__name__)

Item = tuple[journal.Record, Decoded]
_BATCH = 4096
_END = "end"


def decoded(records: Iterator[journal.Record], assets: Mapping[str, int]) -> Iterator[Item]:
    """Each record with what it holds for the core."""
    for record in records:
        if record.kind in journal.COMMAND_KINDS:
            yield record, decode_command(record.payload, assets)
        else:
            yield record, decode_prices(record.payload, assets)


class JournalDecoder:
    """Starts decoding the journal from `from_seq` in a child at once; `items()` reads it."""

    def __init__(self, journal_dir: Path, from_seq: int, assets: Mapping[str, int]) -> None:
        self.journal_dir = journal_dir
        self.from_seq = from_seq
        self.assets = assets
        self._out: IO[bytes] | None = None
        self._child: BaseProcess | None = None
        try:
            # Owned by this object: closed by items() or close(), whichever comes first.
            self._out = tempfile.TemporaryFile(prefix="journal-decoded-")  # noqa: SIM115
            child = multiprocessing.get_context("fork").Process(
                target=_decode_into,
                args=(journal_dir, from_seq, assets, self._out),
                name="journal-decoder",
                daemon=True,
            )
            child.start()
            self._child = child
        except Exception as exc:  # no temp space, or inside a daemonic process (no children)
            log.warning("journal decoder not started (%s): decoding in this process", exc)

    def items(self, from_seq: int) -> Iterator[Item]:
        """Every record from `from_seq` on: the child's work when it started there and
        finished, else decoded here."""
        child, out = self._child, self._out
        if child is not None and out is not None:
            child.join()
            if from_seq == self.from_seq and child.exitcode == 0:
                yield from self._read(out)
                return
            if from_seq == self.from_seq:
                log.warning("journal decoder exited with %s: decoding here", child.exitcode)
        self.close()
        yield from decoded(journal.read_from(self.journal_dir, from_seq), self.assets)

    def close(self) -> None:
        """Stop the child if it still runs (a recovery that failed early) and drop its file."""
        if self._child is not None:
            if self._child.is_alive():
                self._child.terminate()
            self._child.join()
        if self._out is not None:
            self._out.close()

    @staticmethod
    def _read(out: IO[bytes]) -> Iterator[Item]:
        out.seek(0)
        with out:
            while True:
                batch = pickle.load(out)
                if batch == _END:
                    return
                if isinstance(batch, BaseException):
                    raise batch
                for first_seq, kind, entry_id, flat in batch:
                    yield journal.Record(first_seq, kind, entry_id, b""), _unflatten(flat)


def _decode_into(
    journal_dir: Path, from_seq: int, assets: Mapping[str, int], out: IO[bytes]
) -> None:
    """The child: every record from `from_seq`, in batches, then the end mark (or an error)."""
    batch: list[tuple[int, int, bytes, Any]] = []
    try:
        for record, item in decoded(journal.read_from(journal_dir, from_seq), assets):
            batch.append((record.first_seq, record.kind, record.entry_id, _flatten(item)))
            if len(batch) == _BATCH:
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                batch = []
        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(_END, out)
    except Exception as exc:  # a damaged journal: the parent raises it where replay meets it
        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(exc, out)
    out.flush()


def _flatten(item: Decoded) -> Any:
    if item.command is not None:
        return command_to_tuple(item.command)
    if item.ticks is not None:
        return [(t.asset, t.bid, t.ask, t.ts_us) for t in item.ticks]
    return None  # nothing to apply: replay reports the record


def _unflatten(flat: Any) -> Decoded:
    if isinstance(flat, tuple):
        return Decoded(command=command_from_tuple(flat))
    if isinstance(flat, list):
        return Decoded(ticks=[Tick(*tick) for tick in flat])
    return Decoded()
