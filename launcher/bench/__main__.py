"""The exchange as users meet it: `python -m launcher.bench [--quick] [--only PART ...]`.

Starts the exchange as production runs it (launcher.bench.exchange), measures every part
several times in turn (the floor, the engine through its streams, gRPC, REST closed loop, the
gateway's frameworks alone for their ceiling, REST open loop; then the liquidation storm) and
prints one table. A part that fails prints its error in
its rows and the others still run; the exit status is 1 when any did.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from launcher.bench import parts, settle
from launcher.bench.exchange import Exchange
from launcher.bench.table import PARTS, Board, filesystem_of, machine

log = logging.getLogger("bench")


def _in_thread(fn: Any, ctx: parts.Context, timeout_s: float) -> dict[str, float]:
    """Run one part with a deadline: a hung part must not hang `make bench`."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["figures"] = fn(ctx)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"did not finish within {timeout_s:.0f}s")
    if "error" in box:
        raise box["error"]
    figures: dict[str, float] = box["figures"]
    return figures


def _settle(ctx: parts.Context, limit_s: float) -> None:
    """Wait until the exchange has digested the last part (launcher.bench.settle), so its
    backlog does not weigh on the next part's figures."""
    took, late = settle.wait_caught_up(ctx.exchange.redis_url, limit_s)
    if late:
        print(f"bench: still behind after {took:.1f} s: {'; '.join(late)}", file=sys.stderr)
    elif took >= 1.0:
        print(f"bench: the exchange caught up in {took:.1f} s", file=sys.stderr)


def _measure(board: Board, ctx: parts.Context, name: str, deadline: float) -> None:
    if time.monotonic() > deadline:
        board.fail(name, "skipped: the bench's time budget is spent")
        print(f"bench: {name} skipped (time budget)", file=sys.stderr)
        return
    started = time.monotonic()
    outcome = "done"
    try:
        ctx.exchange.check_alive()
        timeout = min(ctx.sizes.part_timeout_s, max(1.0, deadline - time.monotonic()))
        board.add(_in_thread(parts.PARTS[name], ctx, timeout), ctx.notes)
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc or repr(exc)}".replace("\n", " ")[:160]
        board.fail(name, outcome)
    print(f"bench: {name} {outcome} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    _settle(ctx, limit_s=ctx.sizes.settle_s)


def _storms(board: Board, ctx: parts.Context, deadline: float) -> None:
    """Up to `storm_runs` storms: another only if the last one worked and one more fits."""
    for round_no in range(ctx.sizes.storm_runs):
        started = time.monotonic()
        _measure(board, ctx, "storm", deadline)
        took = time.monotonic() - started
        if board.errors.get("storm.persisted") or time.monotonic() + 1.2 * took > deadline:
            if round_no + 1 < ctx.sizes.storm_runs:
                print(f"bench: storm repeated {round_no + 1} time(s) only", file=sys.stderr)
            return


def run(sizes: parts.Sizes, chosen: list[str], keep: bool) -> int:
    started = time.monotonic()
    names = [name for name in PARTS if name == "floor" or name in chosen]
    board = Board(names)
    # Under the data dir, not /tmp: a tmpfs would make the journal's fsync free.
    base = Path(os.environ.get("EXCHANGE_DATA_DIR") or ".exchange")
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=base)).resolve()
    exchange = Exchange(work)
    services = ""
    try:
        try:
            exchange.start()
            services = ", ".join(exchange.children)
            up = time.monotonic()
            tag = work.name.removeprefix("bench-").lower()  # new users even on a shared Redis
            emails = [f"bench-{tag}-{i}@example.com" for i in range(parts.USERS)]
            users = exchange.sign_up(emails)
            print(
                f"bench: exchange up in {up - started:.1f} s, {len(users)} users signed up "
                f"in {time.monotonic() - up:.1f} s",
                file=sys.stderr,
            )
        except Exception as exc:
            for name in names:
                board.fail(name, f"the exchange did not start: {exc}"[:200])
        else:
            ctx = parts.Context(exchange, users, sizes, work)
            deadline = time.monotonic() + sizes.budget_s  # the start has its own timeout
            before_storm = deadline - (sizes.storm_reserve_s if "storm" in names else 0.0)
            for _ in range(sizes.runs):  # in turn, so a slow minute does not hit one part only
                for name in names:
                    if name != "storm":
                        _measure(board, ctx, name, before_storm)
            if "storm" in names:
                _storms(board, ctx, deadline)
            for key, text in ctx.notes.items():
                board.note(key, text)
    finally:
        stopping = time.monotonic()
        exchange.stop()
        print(f"bench: exchange stopped in {time.monotonic() - stopping:.1f} s", file=sys.stderr)
        elapsed = time.monotonic() - started
        print(
            f"\nexchange benchmark: the exchange as users meet it ({services or 'not started'}; "
            f"GATEWAY_WORKERS={exchange.env.get('GATEWAY_WORKERS') or 'default (cores)'}, "
            f"journal fsync on, INFO logs), {sizes.runs} run(s) of {sizes.seconds:g} s per figure"
        )
        print(board.render())
        print(f"machine: {machine()}; journal on {filesystem_of(exchange.work)}")
        print(f"took {elapsed:.0f} s")
        _clean(work, keep=keep or board.failed)
    return 1 if board.failed else 0


def _clean(work: Path, keep: bool) -> None:
    """Logs stay when something failed (or with --keep); the data never does."""
    for data in ("postgres", "redis", "snapshots", "data"):
        shutil.rmtree(work / data, ignore_errors=True)
    if keep:
        print(f"logs: {work / 'logs'}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launcher.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run of everything")
    parser.add_argument(
        "--only", action="append", choices=PARTS, default=[], help="this part (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir's logs")
    parser.add_argument("--runs", type=int, help="runs of each figure (default: 3, quick: 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s bench %(message)s")

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # through the finally blocks: the exchange is stopped

    signal.signal(signal.SIGTERM, on_term)
    sizes = parts.QUICK if args.quick else parts.FULL
    if args.runs:
        sizes = dataclasses.replace(sizes, runs=max(1, args.runs))
    try:
        return run(sizes, args.only or list(PARTS), args.keep)
    except KeyboardInterrupt:  # the table so far is printed, the exchange stopped
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
