"""The audit writer: engine_audit -> orders, exactly once per (user_id, order_id, engine_seq)."""

from __future__ import annotations

import redis.asyncio as aioredis
from exchange.v1 import audit_pb2, types_pb2

from gateway_svc.db import Database, OrderRow
from gateway_svc.ledger.audit import AuditWriter
from mesh.streams import AUDIT, AUDIT_GROUP, PAYLOAD, connect
from tests.db.factories import audit
from tests.db.helpers import count, running, wait_until

ORDERS_SQL = "SELECT count(*) FROM orders"
T0 = 1_700_000_000_000


async def _publish(client: aioredis.Redis, records: list[audit_pb2.CommandAudit]) -> None:
    for record in records:
        await client.xadd(AUDIT, {PAYLOAD: record.SerializeToString()})


def _writer(client: aioredis.Redis, db: Database, **kwargs: int) -> AuditWriter:
    return AuditWriter(client, db, "ledger-test", block_ms=50, **kwargs)  # type: ignore[arg-type]


async def _drain(client: aioredis.Redis, db: Database, entries: int, **kwargs: int) -> AuditWriter:
    writer = _writer(client, db, **kwargs)
    async with running(writer):
        await wait_until(lambda: writer.acked == entries)
    assert (await client.xpending(AUDIT, AUDIT_GROUP))["pending"] == 0
    return writer


async def test_rows_take_the_gateways_shape(redis_url: str, db: Database) -> None:
    client = connect(redis_url)
    await _publish(
        client,
        [
            audit("acct", body="create_account", ts_ms=T0),
            audit("open", ts_ms=T0 + 1, latency_us=1234),
            audit(
                "close",
                body="close_trade",
                ts_ms=T0 + 2,
                error_code=types_pb2.ERROR_CODE_TRADE_NOT_FOUND,
            ),
        ],
    )
    writer = await _drain(client, db, 3)
    assert writer.written == 3 and writer.duplicates == 0
    rows, _ = await db.list_orders("u1", 10, None)
    assert rows == [
        OrderRow(
            order_id="close",
            user_id="u1",
            command="CLOSE_TRADE",
            status="error",
            error_code="TRADE_NOT_FOUND",
            message="trade not found",
            latency_us=850,
            trade_id="t-close",
            created_at_ms=T0 + 2,
            request={"trade_id": "t-close"},
            engine_seq=7,
        ),
        OrderRow(
            order_id="open",
            user_id="u1",
            command="CREATE_TRADE",
            status="success",
            error_code=None,
            message="",
            latency_us=1234,  # the engine's
            trade_id="t-open",
            created_at_ms=T0 + 1,
            # As the gateway wrote it: exact decimal text at the command's scale.
            request={
                "asset": "SOL_USDC",
                "direction": "SHORT",
                "margin": "100.5000",
                "leverage": 1000,
                "stop_loss_price": "238.000000",
            },
            engine_seq=7,
        ),
        OrderRow("acct", "u1", "CREATE_ACCOUNT", "success", None, "", 850, None, T0, None, 7),
    ]
    await client.aclose()


async def test_an_order_id_used_again_as_a_new_command_gets_a_row_of_its_own(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    """Past the engine's order memory an order id comes back as a new command (a later seq):
    its answer is audited too, beside the first one's, and a redelivery of either is not."""
    client = connect(redis_url)
    first = audit("o1", ts_ms=T0, engine_seq=7)
    reused = audit("o1", ts_ms=T0 + 60_000, engine_seq=2_000)
    await _publish(client, [first, reused, reused])
    writer = await _drain(client, db, 3)
    assert (writer.written, writer.duplicates) == (2, 1)
    rows, _ = await db.list_orders("u1", 10, None)
    assert [(r.order_id, r.engine_seq, r.created_at_ms) for r in rows] == [
        ("o1", 2_000, T0 + 60_000),
        ("o1", 7, T0),
    ]
    await client.aclose()


async def test_two_users_same_order_id_get_a_row_each(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    await _publish(client, [audit("same", user_id="u1"), audit("same", user_id="u2")])
    await _drain(client, db, 2)
    assert count(migrated_url, ORDERS_SQL) == 2
    for user in ("u1", "u2"):
        [row], _ = await db.list_orders(user, 10, None)
        assert row.order_id == "same" and row.user_id == user
    await client.aclose()


async def test_republished_and_redelivered_records_write_nothing(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    # The engine answering a redelivered command again publishes the same record: once in
    # the same batch, once in a later one.
    first = audit("o1", ts_ms=T0)
    again = audit("o1", ts_ms=T0 + 5, error_code=types_pb2.ERROR_CODE_INSUFFICIENT_BALANCE)
    await _publish(client, [first, audit("o2"), first])
    writer = await _drain(client, db, 3, batch_size=10)
    assert (writer.written, writer.duplicates) == (2, 1)
    await _publish(client, [again])
    writer = await _drain(client, db, 1)
    assert (writer.written, writer.duplicates) == (0, 1)

    # Every entry delivered once more from the start of the stream: nothing is written.
    await client.xgroup_setid(AUDIT, AUDIT_GROUP, "0")
    replay = await _drain(client, db, 4)
    assert (replay.written, replay.duplicates) == (0, 4)
    assert count(migrated_url, ORDERS_SQL) == 2
    [row] = [r for r in (await db.list_orders("u1", 10, None))[0] if r.order_id == "o1"]
    assert row.status == "success" and row.created_at_ms == T0  # the first record stands
    await client.aclose()


async def test_malformed_records_are_dead_lettered(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    await client.xadd(AUDIT, {PAYLOAD: b"\xff\xff not protobuf"})
    await _publish(client, [audit_pb2.CommandAudit(), audit("ok")])  # no command at all
    writer = await _drain(client, db, 3)
    assert writer.written == 1 and writer.dead_lettered == 2
    assert await client.xlen(f"{AUDIT}_dead") == 2
    assert count(migrated_url, ORDERS_SQL) == 1
    await client.aclose()
