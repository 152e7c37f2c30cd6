"""The real engine through its streams: each answer on its asker's own stream, and one
CommandAudit for every answer to a state-changing command (none for queries)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from exchange.v1 import audit_pb2, commands_pb2

from mesh import streams
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.engine_service.engine_process import EngineProcess
from tests.polling import poll

PRICES = {"SOL_USDC": ("235.90", "235.95")}


@pytest.fixture
def engine(redis_url: str, tmp_path: Path) -> Iterator[EngineProcess]:
    running = EngineProcess(redis_url, tmp_path)
    running.start()
    yield running
    assert running.terminate() == 0


def audit_records(redis_url: str, expected: int, timeout_s: float = 10.0) -> list:
    """Every CommandAudit on the stream, once at least `expected` are there."""
    client = redis.Redis.from_url(redis_url)
    entries = poll(
        lambda: client.xrange(streams.AUDIT),
        lambda entries: len(entries) >= expected,
        timeout_s=timeout_s,
        every_s=0.05,
        must=False,  # the caller's assertions say which records are missing
    )
    client.close()
    return [audit_pb2.CommandAudit.FromString(fields[streams.PAYLOAD]) for _, fields in entries]


def test_each_answer_lands_on_its_askers_stream_only(engine: EngineProcess, redis_url: str) -> None:
    alice, bob = StreamClient(redis_url, "gw-a"), StreamClient(redis_url, "gw-b")
    alice_ids = [alice.send(builders.command(f"a{i}", "create_account")) for i in range(5)]
    bob_ids = [bob.send(builders.command(f"b{i}", "create_account")) for i in range(3)]
    alice.wait_for(alice_ids)
    bob.wait_for(bob_ids)
    bob.poll(200)  # anything more that might have come
    alice.poll(200)
    assert set(alice.answers) == set(alice_ids)
    assert set(bob.answers) == set(bob_ids)
    raw = redis.Redis.from_url(redis_url)
    assert raw.xlen(streams.response_stream("gw-a")) == 5
    assert raw.xlen(streams.response_stream("gw-b")) == 3
    assert not raw.exists(streams.RESPONSES), "nothing goes to the shared answer stream"
    askers = [fields[streams.ASKER] for _, fields in raw.xrange(streams.response_stream("gw-a"))]
    assert askers == [f"a{i}".encode() for i in range(5)], "each answer names its asker"
    for _, fields in raw.xrange(streams.response_stream("gw-a")):
        assert set(fields) == {streams.PAYLOAD, streams.ASKER}


def test_every_state_changing_answer_is_audited_once_and_queries_never(
    engine: EngineProcess, redis_url: str
) -> None:
    client = StreamClient(redis_url, "gw-audit")
    client.send_prices(builders.price_batch(PRICES))
    sent: list[commands_pb2.Command] = []

    def call(command: commands_pb2.Command) -> object:
        sent.append(command)
        return client.call(command)

    assert call(builders.command("u1", "create_account")).error_code == 0
    opened = call(builders.create_trade("u1", "SOL_USDC", "LONG", 100_000, 10))
    trade_id = opened.trade_opened.trade.trade_id
    assert trade_id
    assert call(builders.close_trade("u1", trade_id)).HasField("trade_closed")
    rejected = call(builders.create_trade("nobody", "SOL_USDC", "LONG", 100_000, 10))
    assert rejected.error_code != 0
    malformed = commands_pb2.Command(order_id="no-body", user_id="u1", reply_to="gw-audit")
    assert call(malformed).error_code != 0
    for query in ("get_usd_balance", "get_balance", "get_open_trades", "get_account"):
        call(builders.command("u1", query))
    # The same order again (a client retrying): answered from the order memory, audited again.
    repeat = commands_pb2.Command()
    repeat.CopyFrom(sent[1])
    client.answers.pop(repeat.order_id)
    assert call(repeat).trade_opened.trade.trade_id == trade_id

    changing = [c for c in sent if c.WhichOneof("body") not in _QUERIES]
    assert len(changing) == 6
    records = audit_records(redis_url, len(changing))
    time.sleep(0.3)
    assert len(audit_records(redis_url, 0)) == len(changing), "one record per answer, no more"
    now_ms = time.time() * 1000
    for command, record in zip(changing, records, strict=True):
        assert record.command == command, "the command as received, in answer order"
        assert record.result == client.answers[command.order_id]
        assert now_ms - 60_000 < record.answered_at_ms <= now_ms + 1
        assert 0 < record.engine_latency_us < 10_000_000


_QUERIES = {"get_usd_balance", "get_balance", "get_open_trades", "get_account"}
