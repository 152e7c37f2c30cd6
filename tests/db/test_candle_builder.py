"""The candle builder reads engine_input as its own group and turns asks into candles."""

from __future__ import annotations

from exchange.v1 import prices_pb2

from gateway_svc.db import CandleRow, Database
from gateway_svc.ledger.candles import CandleBuilder
from mesh.streams import CANDLE_GROUP, PAYLOAD, PRICE_GROUP, PRICES, connect, ensure_group
from tests.db.factories import FIRST_MINUTE, MINUTE_MS, SECOND_MINUTE, T0_MS
from tests.db.helpers import running, wait_until


async def test_builds_candles_from_the_price_stream(redis_url: str, db: Database) -> None:
    client = connect(redis_url)
    # The engine's own group on the same stream is untouched by the builder.
    await ensure_group(client, PRICES, PRICE_GROUP)
    ticks = FIRST_MINUTE + SECOND_MINUTE
    for i in range(0, len(ticks), 2):
        batch = prices_pb2.PriceBatch(ticks=ticks[i : i + 2], source="test")
        await client.xadd(PRICES, {PAYLOAD: batch.SerializeToString()})
    await client.xadd(PRICES, {PAYLOAD: b"\xff\xff"})

    builder = CandleBuilder(client, db, "gw-test", block_ms=50, batch_size=2)
    async with running(builder):
        await wait_until(lambda: builder.acked == 5)
    assert builder.dead_lettered == 1 and builder.ticks == len(ticks)
    assert await db.list_candles("SOL_USDC", 60, None, None) == [
        CandleRow(T0_MS, 236_140_000, 237_000_000, 235_500_000, 236_000_000, 6),
        CandleRow(T0_MS + MINUTE_MS, 236_100_000, 238_500_000, 236_100_000, 236_900_000, 6),
    ]
    assert (await client.xpending(PRICES, CANDLE_GROUP))["pending"] == 0
    engine_group = await client.xinfo_groups(PRICES)
    assert {g["name"]: g["pending"] for g in engine_group}[PRICE_GROUP.encode()] == 0
    assert await client.xlen(f"{PRICES}_dead") == 1
    await client.aclose()
