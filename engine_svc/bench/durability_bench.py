"""Benchmark of what durability costs: journal, snapshots, recovery.

    python -m engine_svc.bench.durability_bench [--quick]

At 1M open positions (50k with --quick) it measures the fork pause and the longest wait any
command sees while a snapshot is written, the snapshot's size and write time, recovery time
from that snapshot plus 100k journal records, and command throughput through the service's
apply path with no journal, a journal without fsync, and a journal with fsync (group commit).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from exchange.v1 import commands_pb2, types_pb2

from engine_svc.core.engine import Engine
from engine_svc.core.types import Command, CreateAccount, CreateTrade, Direction, Price, Tick, Usd
from engine_svc.service import journal, snapshots
from engine_svc.service.inputs import apply_command
from engine_svc.service.recovery import recover, snapshot_data
from mesh.assets import ASSET_DECIMALS
from mesh.config import DEFAULT_IDEMPOTENCY_PER_USER

ASSETS = dict(ASSET_DECIMALS)
SOL_BID, SOL_ASK = 235_900_000, 235_950_000
BATCH = 200  # commands per group commit, as a busy engine batches them
OPEN_LIMIT = 1_000
PER_USER = DEFAULT_IDEMPOTENCY_PER_USER  # as the service runs it


def _engine_with_positions(accounts: int, per_account: int) -> Engine:
    engine = Engine(ASSETS, max_open_trades_per_user=OPEN_LIMIT, idempotency_per_user=PER_USER)
    engine.apply_tick(Tick("SOL_USDC", Price(SOL_BID), Price(SOL_ASK), 1))
    rng = random.Random(7)
    for a in range(accounts):
        user = f"user-{a}"
        engine.execute(Command(f"acct-{a}", user, f"{user}@x", 1, CreateAccount()))
        for p in range(per_account):
            direction = Direction.LONG if rng.random() < 0.5 else Direction.SHORT
            body = CreateTrade("SOL_USDC", direction, Usd(10_000), rng.choice((20, 100, 500)))
            engine.execute(Command(f"o-{a}-{p}", user, f"{user}@x", 2, body))
    return engine


def _payload(user: str) -> bytes:
    msg = commands_pb2.Command(
        order_id=str(uuid.uuid4()), user_id=user, email=f"{user}@x", ts_ms=3, reply_to="bench"
    )
    trade = msg.create_trade
    trade.asset = "SOL_USDC"
    trade.direction = types_pb2.DIRECTION_LONG
    trade.margin.units, trade.margin.scale = 100, 4
    trade.leverage = 50
    return msg.SerializeToString()


def _payloads(count: int, accounts: int) -> list[bytes]:
    return [_payload(f"user-{i % accounts}") for i in range(count)]


def measure_snapshot(
    engine: Engine, directory: Path, probe_commands: list[bytes]
) -> dict[str, Any]:
    """Fork like the service does; keep executing commands in the parent and time each."""
    started = time.perf_counter()
    pid, fork_ms = snapshots.fork_writer(directory, lambda: snapshot_data(engine, {}), 10)
    worst_ms = 0.0
    executed = 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        for payload in probe_commands[executed : executed + 50]:
            t0 = time.perf_counter()
            apply_command(engine, payload, ASSETS)
            worst_ms = max(worst_ms, (time.perf_counter() - t0) * 1000)
        executed += 50
        if executed >= len(probe_commands):
            time.sleep(0.01)
    write_s = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, "snapshot child failed"
    path = snapshots.timestamped(directory)[0]
    return {
        "fork_pause_ms": fork_ms,
        "worst_command_ms": worst_ms,
        "commands_during": min(executed, len(probe_commands)),
        "write_s": write_s,
        "size_mb": path.stat().st_size / 1e6,
    }


def measure_journal(payloads: list[bytes], accounts: int, directory: Path, mode: str) -> float:
    engine = _engine_with_positions(accounts, 0)
    log = None if mode == "none" else journal.Journal(directory / mode, fsync=mode == "fsync")
    if log is not None:
        log.open(engine.seq)
    started = time.perf_counter()
    for i, payload in enumerate(payloads):
        before = engine.seq
        applied = apply_command(engine, payload, ASSETS)
        if log is not None and applied.changed:
            log.append(journal.Record(before, journal.KIND_COMMAND, f"{i}-0".encode(), payload))
            if log.pending >= BATCH:
                log.commit()
    if log is not None:
        log.close()
    return len(payloads) / (time.perf_counter() - started)


def prepare_recovery(
    engine: Engine, directory: Path, journal_records: int, accounts: int
) -> tuple[Path, str]:
    """A snapshot of `engine`, then `journal_records` more commands journaled after it.

    Returns the directory to recover from and the state hash recovery must reach.
    """
    snap_dir = directory / "recovery"
    snapshots.write(snap_dir, snapshot_data(engine, {}), 1, keep=10)
    log = journal.Journal(snap_dir / "journal", fsync=False)
    log.open(engine.seq)
    for i, payload in enumerate(_payloads(journal_records, accounts)):
        before = engine.seq
        if apply_command(engine, payload, ASSETS).changed:
            log.append(journal.Record(before, journal.KIND_COMMAND, f"{i}-0".encode(), payload))
    log.close()
    return snap_dir, engine.state_hash()


def measure_recovery(snap_dir: Path, expected_hash: str) -> dict[str, Any]:
    """Recovery in a new interpreter, as a restarted engine runs it. The caller drops its own
    engine first: a restarted engine does not share the machine with a second one."""
    # Not a Pool: its workers are daemonic and may not fork the journal decoder recovery uses.
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_recover_and_send, args=(str(snap_dir), send))
    child.start()
    result: dict[str, Any] = receive.recv()
    child.join()
    result["hash_equal"] = result.pop("state_hash") == expected_hash
    return result


def _recover_and_send(snap_dir: str, send: Connection) -> None:
    send.send(_recover_in_fresh_process(snap_dir))


def _recover_in_fresh_process(snap_dir: str) -> dict[str, Any]:
    directory = Path(snap_dir)
    started = time.perf_counter()
    recovered = recover(
        directory,
        directory / "journal",
        lambda: Engine(ASSETS, max_open_trades_per_user=OPEN_LIMIT, idempotency_per_user=PER_USER),
        lambda data: Engine.restore(
            data, ASSETS, max_open_trades_per_user=OPEN_LIMIT, idempotency_per_user=PER_USER
        ),
        ASSETS,
    )
    seconds = time.perf_counter() - started
    return {
        "recovery_s": seconds,
        "phases": recovered.phases,
        "replayed": recovered.replayed,
        "state_hash": recovered.engine.state_hash(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    accounts, per_account = (5_000, 10) if args.quick else (100_000, 10)
    journal_records = 10_000 if args.quick else 100_000
    throughput_commands = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        directory = Path(tmp)
        print(f"durability benchmark: {accounts * per_account:,} open positions")
        rates = {
            mode: measure_journal(_payloads(throughput_commands, 1000), 1000, directory, mode)
            for mode in ("none", "nofsync", "fsync")
        }
        started = time.perf_counter()
        engine = _engine_with_positions(accounts, per_account)
        print(f"  built in {time.perf_counter() - started:.1f}s")
        snap = measure_snapshot(engine, directory / "snaps", _payloads(20_000, accounts))
        snap_dir, expected_hash = prepare_recovery(engine, directory, journal_records, accounts)
        gc.unfreeze()  # the snapshot's fork froze the engine; let it go like any garbage
        del engine
        gc.collect()
        rec = measure_recovery(snap_dir, expected_hash)
    print(
        f"  snapshot: fork pause {snap['fork_pause_ms']:.1f} ms, worst command wait while "
        f"writing {snap['worst_command_ms']:.2f} ms over {snap['commands_during']:,} commands "
        "(target < 50 ms)"
    )
    print(
        f"  snapshot: {snap['size_mb']:.1f} MB gzip, written in {snap['write_s']:.2f}s "
        "(in a forked child)"
    )
    print(
        f"  recovery: snapshot + {rec['replayed']:,} journal records in "
        f"{rec['recovery_s']:.2f}s (target < 5 s), state hash equal: {rec['hash_equal']}"
    )
    print("  recovery phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in rec["phases"].items()))
    print("  service apply path, commands/s (parse + core + convert answer):")
    for mode, label in (
        ("none", "no journal"),
        ("nofsync", "journal, no fsync"),
        ("fsync", f"journal, fsync every {BATCH}"),
    ):
        print(f"    {label:<24} {rates[mode]:>10,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
