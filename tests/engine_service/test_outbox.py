"""One batch's outputs as one MULTI/EXEC, and CommandAudit records built from bytes."""

from __future__ import annotations

import asyncio

import hiredis
import pytest
import redis
from exchange.v1 import audit_pb2, responses_pb2

from engine_svc.service.outbox import Outbox, audit_record, audit_tail, check_exec
from engine_svc.service.wire import varint
from mesh import streams
from mesh.resp import RespConnection
from tests.engine_service import builders


def _commands(packed: bytes) -> list[list[bytes]]:
    """The RESP arrays of a packed request (hiredis parses them like replies)."""
    reader = hiredis.Reader()
    reader.feed(packed)
    out = []
    while (command := reader.gets()) is not False:
        out.append(command)
    return out


def _outbox() -> tuple[Outbox, bytes, bytes]:
    command = builders.command("u1", "create_account", reply_to="gw-1").SerializeToString()
    result = responses_pb2.CommandResult(order_id="o-1", engine_seq=7).SerializeToString()
    outbox = Outbox()
    outbox.answers.append(("gw-1", "u1", result))
    outbox.audits.append((command, result, 1_000_000))
    outbox.events.append(b"event-bytes")
    outbox.acks[streams.COMMANDS] = [b"1-0", b"1-1"]
    outbox.acks[streams.PRICES] = []
    return outbox, command, result


def test_a_batch_is_one_transaction_in_order() -> None:
    outbox, command, result = _outbox()
    packed, replies = outbox.packed(now_ms=1_700_000_000_000, now_ns=3_500_000)
    commands = _commands(packed)
    assert [c[0] for c in commands] == [
        b"MULTI", b"XADD", b"EXPIRE", b"XADD", b"XADD", b"XACK", b"EXEC"
    ]  # fmt: skip
    assert replies == len(commands)
    answer, expire, audit, event, ack = commands[1:6]
    assert expire == [b"EXPIRE", b"engine_response:gw-1", str(streams.RESPONSES_TTL_S).encode()]
    approx = [b"MAXLEN", b"~"]
    assert answer == [
        b"XADD", b"engine_response:gw-1", *approx, b"10000", b"*", b"p", result, b"u", b"u1"
    ]  # fmt: skip
    assert audit[:6] == [b"XADD", streams.AUDIT.encode(), *approx, b"1000000", b"*"]
    record = audit_pb2.CommandAudit.FromString(audit[7])
    assert record.command.SerializeToString() == command
    assert record.result.SerializeToString() == result
    assert (record.answered_at_ms, record.engine_latency_us) == (1_700_000_000_000, 2_500)
    assert event[1] == streams.EVENTS.encode() and event[-1] == b"event-bytes"
    assert ack == [
        b"XACK",
        streams.COMMANDS.encode(),
        streams.COMMAND_GROUP.encode(),
        b"1-0",
        b"1-1",
    ]


def test_the_transaction_runs_on_redis(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    raw.xgroup_create(streams.COMMANDS, streams.COMMAND_GROUP, id="0", mkstream=True)
    outbox, _, result = _outbox()

    async def send() -> None:
        conn = RespConnection(redis_url)
        packed, replies = outbox.packed(1, 0)
        check_exec(await conn.call(packed, replies))
        conn.close()

    asyncio.run(send())
    ((_, fields),) = raw.xrange(streams.response_stream("gw-1"))
    assert fields == {streams.PAYLOAD: result, streams.ASKER: b"u1"}
    # An instance killed with -9 deletes nothing: its answers leave Redis by themselves.
    assert 0 < raw.ttl(streams.response_stream("gw-1")) <= streams.RESPONSES_TTL_S
    assert raw.xlen(streams.AUDIT) == 1 and raw.xlen(streams.EVENTS) == 1


def test_a_failed_transaction_raises() -> None:
    with pytest.raises(redis.ResponseError):
        check_exec([b"OK", redis.ResponseError("EXECABORT")])
    with pytest.raises(redis.ResponseError):
        check_exec([b"OK", b"QUEUED", None])


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63)])
def test_varint_is_protobufs(value: int) -> None:
    assert audit_pb2.CommandAudit.FromString(b"\x18" + varint(value)).answered_at_ms == value
    if value:
        record = audit_pb2.CommandAudit(answered_at_ms=value)
        assert record.SerializeToString() == b"\x18" + varint(value)


def test_an_audit_record_around_large_payloads_parses() -> None:
    command = builders.command("u" * 300, "create_account").SerializeToString()
    result = responses_pb2.CommandResult(order_id="x" * 200, message="m" * 5000)
    record = audit_pb2.CommandAudit.FromString(
        audit_record(command, result.SerializeToString(), audit_tail(123, -5))
    )
    assert record.command.user_id == "u" * 300
    assert record.result == result
    assert (record.answered_at_ms, record.engine_latency_us) == (123, 0)
