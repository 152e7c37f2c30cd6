"""Start-up recovery: the newest snapshot that holds, then the journal after it (SPEC 6)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine_svc.core.collector import collector_paused
from engine_svc.core.engine import Engine
from engine_svc.core.types import TradeEvent
from engine_svc.service import journal, snapshots
from engine_svc.service.inputs import apply
from engine_svc.service.prefetch import Item, JournalDecoder

log = logging.getLogger(__name__)


class RecoveryError(RuntimeError):
    """The saved state cannot be rebuilt completely; starting would lose answered inputs."""


@dataclass
class Recovered:
    engine: Engine
    last_ids: dict[int, bytes] = field(default_factory=dict)
    """Last journaled stream entry id per journal kind."""
    replayed: int = 0
    events: list[TradeEvent] = field(default_factory=list)
    snapshot: Path | None = None
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each phase: load, restore, replay."""

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def snapshot_data(engine: Engine, last_ids: Mapping[int, bytes]) -> dict[str, Any]:
    """What a snapshot stores: the journal position first, stream ids, then the core."""
    return {
        "seq": engine.seq,
        "stream_ids": {str(kind): entry.decode() for kind, entry in last_ids.items()},
        "engine": engine.snapshot(),
    }


def recover(
    snapshot_dir: Path,
    journal_dir: Path,
    new_engine: Callable[[], Engine],
    restore_engine: Callable[[dict[str, Any]], Engine],
    assets: Mapping[str, int],
    *,
    progress_every_s: float = 1.0,
) -> Recovered:
    # Load, restore and replay create millions of objects that all live on: collections in
    # between would walk them again and again and find nothing (a third of the load time).
    # They are frozen before the collector resumes, or its first pass would walk them all.
    with collector_paused():
        started = time.monotonic()
        decoder = JournalDecoder(journal_dir, _newest_seq(snapshot_dir), assets)
        try:
            found = snapshots.load_newest(snapshot_dir)
            loaded_at = time.monotonic()
            if found is None:
                engine = new_engine()
                state = Recovered(engine)
                log.info("no snapshot: starting from an empty engine")
            else:
                path, data = found
                engine = restore_engine(data["engine"])
                if engine.seq != data["seq"]:
                    raise RecoveryError(
                        f"snapshot {path} says seq {data['seq']}, core has {engine.seq}"
                    )
                last_ids = {int(k): v.encode() for k, v in data.get("stream_ids", {}).items()}
                state = Recovered(engine, last_ids, snapshot=path)
            segments = journal.segments(journal_dir)
            if segments and segments[0][0] > engine.seq:
                raise RecoveryError(
                    f"the journal starts at seq {segments[0][0]} but the state is at seq "
                    f"{engine.seq}: inputs in between are missing"
                )
            restored_at = time.monotonic()
            items = decoder.items(engine.seq)
            _replay(state, items, assets, progress_every_s, restored_at)
            state.phases = {
                "load": loaded_at - started,
                "restore": restored_at - loaded_at,
                "replay": time.monotonic() - restored_at,
            }
            log.info(
                "recovered to seq %d: snapshot %s + %d journal records in %.2fs (%s)",
                engine.seq,
                state.snapshot.name if state.snapshot else "none",
                state.replayed,
                state.seconds,
                ", ".join(f"{phase} {seconds:.2f}s" for phase, seconds in state.phases.items()),
            )
        finally:
            decoder.close()
        gc.freeze()
    return state


def _replay(
    state: Recovered,
    items: Iterator[Item],
    assets: Mapping[str, int],
    progress_every_s: float,
    last_log: float,
) -> None:
    engine = state.engine
    for record, decoded in items:
        if record.first_seq != engine.seq:
            raise RecoveryError(
                f"journal record at seq {record.first_seq} does not follow state seq {engine.seq}"
            )
        engine.legacy_trade_ids = record.kind == journal.KIND_COMMAND_V1
        try:
            applied = apply(engine, decoded, assets, answer=False)
        finally:
            engine.legacy_trade_ids = False
        if not applied.changed:
            raise RecoveryError(f"journal record at seq {record.first_seq} changed nothing")
        state.events.extend(applied.events)
        state.last_ids[record.kind] = record.entry_id
        state.replayed += 1
        if time.monotonic() - last_log >= progress_every_s:
            log.info("recovery: replayed %d journal records (seq %d)", state.replayed, engine.seq)
            last_log = time.monotonic()


def _newest_seq(snapshot_dir: Path) -> int:
    """Where the journal most likely starts for this recovery: the newest readable snapshot's
    seq (a damaged one found later makes the decoder's work useless, not wrong)."""
    for path in snapshots.timestamped(snapshot_dir):
        seq = snapshots.peek_seq(path)
        if seq is not None:
            return seq
    return 0
