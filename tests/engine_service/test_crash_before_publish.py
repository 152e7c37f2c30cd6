"""kill -9 between a batch's journal commit and its publish: nothing of the batch was
published (no answer, no audit record, no acknowledgement: one transaction), and after a
restart the redelivered entry is answered from the order memory, with its audit record."""

from __future__ import annotations

import sys
from pathlib import Path

import redis
from exchange.v1 import audit_pb2

from engine_svc.service import journal
from mesh import streams
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.engine_service.engine_process import EngineProcess
from tests.polling import poll


def test_a_kill_between_journal_and_publish_loses_no_answer_and_no_audit(
    redis_url: str, tmp_path: Path
) -> None:
    engine = EngineProcess(redis_url, tmp_path)
    engine.start([sys.executable, "-m", "tests.engine_service.crash_before_publish"])
    client = StreamClient(redis_url, "gw-crash")
    order_id = client.send(builders.command("u1", "create_account"))
    assert engine.process is not None
    engine.process.wait(20)  # it killed itself at the publish
    assert engine.process.returncode == -9

    raw = redis.Redis.from_url(redis_url)
    records = list(journal.read_from(tmp_path / "snapshots" / "journal", 0))
    assert [r.kind for r in records] == [journal.KIND_COMMAND], "the command was journaled"
    assert raw.xlen(client.stream) == 0, "no answer left"
    assert raw.xlen(streams.AUDIT) == 0, "no audit record left"
    pending = raw.xpending(streams.COMMANDS, streams.COMMAND_GROUP)
    assert pending["pending"] == 1, "and the entry was not acknowledged"

    engine.start()  # the real engine: replays the journal, then gets the entry again
    answer = client.wait_for([order_id])[order_id]
    assert answer.error_code == 0 and answer.HasField("account_created")
    poll(lambda: raw.xlen(streams.AUDIT), timeout_s=10, every_s=0.05, what="the audit record")
    (entry,) = raw.xrange(streams.AUDIT)
    record = audit_pb2.CommandAudit.FromString(entry[1][streams.PAYLOAD])
    assert record.command.order_id == order_id
    assert record.result == answer
    assert raw.xpending(streams.COMMANDS, streams.COMMAND_GROUP)["pending"] == 0
    # Applied once: a second account for the same user would be refused, and the engine's
    # sequence counts the command once.
    assert answer.engine_seq == 1
    assert engine.terminate() == 0
    assert "redelivering 1 unacknowledged entries" in engine.tail()
