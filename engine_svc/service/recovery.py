"""Start-up recovery: the newest snapshot that holds, then the journal after it (SPEC 6)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine_svc.core.engine import Engine
from engine_svc.core.types import TradeEvent
from engine_svc.service import journal, snapshots
from engine_svc.service.inputs import apply_command, apply_prices

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
    seconds: float = 0.0


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
    started = time.monotonic()
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
            raise RecoveryError(f"snapshot {path} says seq {data['seq']}, core has {engine.seq}")
        last_ids = {int(k): v.encode() for k, v in data.get("stream_ids", {}).items()}
        state = Recovered(engine, last_ids, snapshot=path)
    segments = journal.segments(journal_dir)
    if segments and segments[0][0] > engine.seq:
        raise RecoveryError(
            f"the journal starts at seq {segments[0][0]} but the state is at seq {engine.seq}: "
            "inputs in between are missing"
        )
    restored_at = last_log = time.monotonic()
    # Replay creates objects in bulk that live on; full collections over a heap of millions
    # of live objects would find nothing and cost seconds.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _replay(state, journal_dir, assets, progress_every_s, last_log)
    finally:
        if collecting:
            gc.enable()
    state.seconds = time.monotonic() - started
    log.info(
        "recovered to seq %d: snapshot %s + %d journal records in %.2fs "
        "(load %.2fs, restore %.2fs, replay %.2fs)",
        engine.seq,
        state.snapshot.name if state.snapshot else "none",
        state.replayed,
        state.seconds,
        loaded_at - started,
        restored_at - loaded_at,
        time.monotonic() - restored_at,
    )
    return state


def _replay(
    state: Recovered,
    journal_dir: Path,
    assets: Mapping[str, int],
    progress_every_s: float,
    last_log: float,
) -> None:
    engine = state.engine
    for record in journal.read_from(journal_dir, engine.seq):
        if record.first_seq != engine.seq:
            raise RecoveryError(
                f"journal record at seq {record.first_seq} does not follow state seq {engine.seq}"
            )
        if record.kind == journal.KIND_COMMAND:
            applied = apply_command(engine, record.payload, assets, answer=False)
        else:
            applied = apply_prices(engine, record.payload, assets)
        if not applied.changed:
            raise RecoveryError(f"journal record at seq {record.first_seq} changed nothing")
        state.events.extend(applied.events)
        state.last_ids[record.kind] = record.entry_id
        state.replayed += 1
        if time.monotonic() - last_log >= progress_every_s:
            log.info("recovery: replayed %d journal records (seq %d)", state.replayed, engine.seq)
            last_log = time.monotonic()
