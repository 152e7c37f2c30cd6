"""Snapshot + journal recovery rebuilds exactly the lost state (equal state_hash)."""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest

from engine_svc.core.engine import Engine
from engine_svc.core.model import trade_id_for
from engine_svc.service import journal, snapshots
from engine_svc.service.inputs import apply_command, apply_prices
from engine_svc.service.recovery import RecoveryError, recover, snapshot_data
from mesh.assets import ASSET_DECIMALS
from tests.engine_service import builders

ASSETS = dict(ASSET_DECIMALS)


def _new() -> Engine:
    return Engine(ASSETS)


def _restore(data: dict) -> Engine:  # type: ignore[type-arg]
    return Engine.restore(data, ASSETS)


class Live:
    """An engine fed like the service feeds it: apply, journal what changed, snapshot."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.engine = _new()
        self.journal = journal.Journal(directory / "journal", fsync=False)
        self.journal.open(0)
        self.next_id = 1
        self.trades: list[tuple[str, str]] = []
        self.clock = 1_000

    def feed(self, kind: int, payload: bytes) -> None:
        before = self.engine.seq
        apply = apply_command if kind in journal.COMMAND_KINDS else apply_prices
        # A KIND_COMMAND_V1 record is what the engine journaled before trade ids carried
        # their seq: applied live under that rule then.
        self.engine.legacy_trade_ids = kind == journal.KIND_COMMAND_V1
        applied = apply(self.engine, payload, ASSETS)
        self.engine.legacy_trade_ids = False
        if applied.result is not None and applied.result.HasField("trade_opened"):
            trade = applied.result.trade_opened.trade
            self.trades.append((trade.user_id, trade.trade_id))
        if applied.changed:
            entry = f"{self.next_id}-0".encode()
            self.journal.append(journal.Record(before, kind, entry, payload))
        self.next_id += 1
        self.journal.commit()

    def snapshot(self) -> None:
        self.journal.open(self.engine.seq)
        self.clock += 1
        snapshots.write(self.directory, snapshot_data(self.engine, {}), self.clock, keep=10)

    def random_traffic(self, rng: random.Random, steps: int) -> None:
        users = [f"u{i}" for i in range(5)]
        for user in users:
            self.feed(
                journal.KIND_COMMAND, builders.command(user, "create_account").SerializeToString()
            )
        sol = 235_000
        for _ in range(steps):
            roll = rng.random()
            if roll < 0.4:
                sol += rng.randint(-900, 900)
                bid = f"{sol // 1000}.{sol % 1000:03d}"
                ask_units = sol + 20
                ask = f"{ask_units // 1000}.{ask_units % 1000:03d}"
                self.feed(journal.KIND_PRICES, builders.price_batch({"SOL_USDC": (bid, ask)}))
            elif roll < 0.8 or not self.trades:
                cmd = builders.create_trade(
                    rng.choice(users),
                    "SOL_USDC",
                    rng.choice(["LONG", "SHORT"]),
                    rng.randint(1, 500) * 10_000,
                    rng.choice([10, 50, 200, 1000]),
                )
                self.feed(journal.KIND_COMMAND, cmd.SerializeToString())
            else:
                user, trade_id = self.trades.pop(rng.randrange(len(self.trades)))
                self.feed(
                    journal.KIND_COMMAND, builders.close_trade(user, trade_id).SerializeToString()
                )


def _recover(directory: Path) -> Engine:
    return recover(directory, directory / "journal", _new, _restore, ASSETS).engine


def test_journal_alone_rebuilds_the_state(tmp_path: Path) -> None:
    live = Live(tmp_path)
    live.random_traffic(random.Random(1), 300)
    assert live.engine.seq > 100
    assert _recover(tmp_path).state_hash() == live.engine.state_hash()


def test_a_journal_from_before_seq_trade_ids_replays_to_the_same_trades(tmp_path: Path) -> None:
    """An engine upgraded after a crash replays the old engine's journal: each command under
    the rule it was answered by, so every trade keeps the id its owner was told."""
    live = Live(tmp_path)
    live.feed(journal.KIND_COMMAND_V1, builders.command("u1", "create_account").SerializeToString())
    live.feed(journal.KIND_PRICES, builders.price_batch({"SOL_USDC": ("235.000", "235.020")}))
    orders = []
    for kind in (journal.KIND_COMMAND_V1, journal.KIND_COMMAND):
        cmd = builders.create_trade("u1", "SOL_USDC", "LONG", 10_000, 10)
        live.feed(kind, cmd.SerializeToString())
        orders.append(cmd.order_id)
    (_, old_id), (_, new_id) = live.trades
    assert old_id == trade_id_for("u1", orders[0])  # the older rule: no seq
    assert new_id == trade_id_for("u1", orders[1], live.engine.seq)
    recovered = _recover(tmp_path)
    assert recovered.state_hash() == live.engine.state_hash()
    assert set(recovered.trades) == {old_id, new_id}


def test_snapshot_plus_journal_rebuilds_the_state(tmp_path: Path) -> None:
    live = Live(tmp_path)
    rng = random.Random(2)
    live.random_traffic(rng, 200)
    live.snapshot()
    live.random_traffic(rng, 200)
    recovered = recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)
    assert recovered.snapshot is not None
    assert recovered.replayed > 0
    assert recovered.engine.state_hash() == live.engine.state_hash()


def test_recovery_runs_without_the_collector_and_resumes_it_with_the_state_frozen(
    tmp_path: Path,
) -> None:
    live = Live(tmp_path)
    rng = random.Random(4)
    live.random_traffic(rng, 100)
    live.snapshot()
    live.random_traffic(rng, 100)
    collections: list[str] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(f"generation {info['generation']}")

    def restore_under_pressure(data: dict) -> Engine:  # type: ignore[type-arg]
        gc.collect()  # explicit collections run even when paused: the hook must see this one
        assert collections, "the gc callback saw no collection"
        collections.clear()
        engine = _restore(data)
        # Thousands of new container objects: with the collector on, this runs it.
        garbage = [[i] for i in range(50_000)]
        del garbage
        return engine

    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    gc.callbacks.append(note)
    try:
        recovered = recover(tmp_path, tmp_path / "journal", _new, restore_under_pressure, ASSETS)
        assert collections == []
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen_before
    finally:
        gc.callbacks.remove(note)
        gc.unfreeze()
    assert recovered.engine.state_hash() == live.engine.state_hash()
    assert list(recovered.phases) == ["load", "restore", "replay"]
    assert recovered.seconds == sum(recovered.phases.values()) > 0


def test_a_failed_recovery_resumes_the_collector(tmp_path: Path) -> None:
    def broken(data: dict) -> Engine:  # type: ignore[type-arg]
        raise RecoveryError("snapshot does not fit this engine")

    live = Live(tmp_path)
    live.random_traffic(random.Random(5), 50)
    live.snapshot()
    assert gc.isenabled()
    with pytest.raises(RecoveryError, match="does not fit"):
        recover(tmp_path, tmp_path / "journal", _new, broken, ASSETS)
    assert gc.isenabled()


def test_corrupt_latest_snapshot_falls_back_to_older_plus_longer_replay(tmp_path: Path) -> None:
    live = Live(tmp_path)
    rng = random.Random(3)
    live.random_traffic(rng, 150)
    live.snapshot()
    live.random_traffic(rng, 150)
    live.snapshot()
    live.random_traffic(rng, 150)
    newest = snapshots.timestamped(tmp_path)[0]
    newest.write_bytes(newest.read_bytes()[:100])
    intact = recover(tmp_path, tmp_path / "journal", _new, _restore, ASSETS)
    assert intact.snapshot is not None and intact.snapshot != newest
    assert intact.engine.state_hash() == live.engine.state_hash()


def test_missing_journal_segments_refuse_to_start(tmp_path: Path) -> None:
    live = Live(tmp_path)
    rng = random.Random(4)
    live.random_traffic(rng, 100)
    live.snapshot()
    live.random_traffic(rng, 100)
    for path in snapshots.timestamped(tmp_path):
        path.unlink()
    (tmp_path / snapshots.LATEST).unlink()
    first_segment = journal.segments(tmp_path / "journal")[0][1]
    first_segment.unlink()
    with pytest.raises(RecoveryError, match="missing"):
        _recover(tmp_path)
