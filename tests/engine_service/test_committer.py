"""The committer: a batch's answers leave only after the journal sync that covers its
records, batches leave in the order they were applied, and batches waiting together share
one sync and one transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from engine_svc.service import journal
from engine_svc.service.committer import Applied, Committer
from engine_svc.service.metrics import EngineMetrics
from engine_svc.service.outbox import Outbox


class _Journal(journal.Journal):
    def __init__(self, directory: Path, log: list[str]) -> None:
        super().__init__(directory, fsync=True)
        self.log = log

    def sync(self) -> None:
        self.log.append(f"sync {self.records_written}")
        super().sync()


class _Redis:
    """Takes a transaction and answers it as Redis would, logging what it published."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def call(self, packed: bytes, replies: int) -> list[Any]:
        await asyncio.sleep(0.001)
        # Each asker's answers, then one EXPIRE of its stream: count the answers alone.
        answers = packed.count(b"engine_response:") - packed.count(b"\r\nEXPIRE\r\n")
        self.log.append(f"publish {answers}")
        return [b"OK", *[b"QUEUED"] * (replies - 2), [b"1-0"] * (replies - 2)]


def _batch(log: journal.Journal, seq: int, answers: int) -> Applied:
    outbox = Outbox()
    for i in range(answers):
        log.append_entry(seq + i, journal.KIND_COMMAND, b"%d-0" % (seq + i), b"payload")
        outbox.answers.append(("gw", "u", b"result"))
    log.write()
    return Applied(outbox, 0, [(answers, 0)])


async def test_answers_leave_after_the_sync_that_covers_them(tmp_path: Path) -> None:
    log: list[str] = []
    records = _Journal(tmp_path / "journal", log)
    records.open(0)
    log.clear()
    committer = Committer(records, _Redis(log), EngineMetrics())  # type: ignore[arg-type]
    committer.start()
    await committer.submit(_batch(records, 0, 2))
    await committer.drain()
    # Two batches handed over while the committer is busy wait and go out together.
    first = asyncio.ensure_future(committer.submit(_batch(records, 2, 3)))
    await first
    await committer.submit(_batch(records, 5, 1))
    await committer.submit(_batch(records, 6, 4))
    await committer.drain()
    await committer.stop()

    assert log[:2] == ["sync 2", "publish 2"]
    synced = 0
    for entry in log:
        what, count = entry.split()
        if what == "sync":
            synced = int(count)
        else:
            published = sum(
                int(e.split()[1]) for e in log[: log.index(entry) + 1] if e.startswith("publish")
            )
            assert published <= synced, f"answers published before their records were synced: {log}"
    assert sum(int(e.split()[1]) for e in log if e.startswith("publish")) == 10
    assert len([e for e in log if e.startswith("sync")]) < 4, f"batches waiting share a sync: {log}"
    assert records.commits == len([e for e in log if e.startswith("sync")])
    records.close()
