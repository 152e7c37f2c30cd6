"""Users, the order audit trail with keyset pagination, and the auth token tables."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time

import pytest
from exchange.v1 import events_pb2

from gateway_svc.db import Database, InvalidPageToken, OrderRow
from tests.db.factories import closed, opened

T0 = 1_700_000_000_000


async def test_get_or_create_user_is_idempotent_and_case_insensitive(db: Database) -> None:
    first, created = await db.get_or_create_user("Alice@Example.COM ")
    assert created
    assert first.email == "alice@example.com"
    again, created_again = await db.get_or_create_user("alice@example.com")
    assert not created_again
    assert again == first
    assert await db.get_user(first.id) == first
    assert await db.get_user("no-such-user") is None
    other, created_other = await db.get_or_create_user("bob@example.com")
    assert created_other and other.id != first.id


def _order(order_id: str, user_id: str, at_ms: int, status: str = "success") -> OrderRow:
    return OrderRow(
        order_id=order_id,
        user_id=user_id,
        command="CREATE_TRADE",
        status=status,
        error_code=None if status == "success" else "INSUFFICIENT_BALANCE",
        message="ok" if status == "success" else "insufficient balance",
        latency_us=1234,
        trade_id="t-1" if status == "success" else None,
        created_at_ms=at_ms,
        request={"asset": "SOL_USDC", "margin": "100"},
    )


async def test_orders_paginate_newest_first_without_gaps_or_overlap(db: Database) -> None:
    mine = []
    for i in range(7):
        # Two orders share each millisecond, so the id tie-break is exercised.
        order = _order(f"o-{i:02d}", "u1", T0 + (i // 2), "error" if i == 3 else "success")
        mine.append(order)
        await db.record_orders([order])
    await db.record_orders([_order("other-1", "u2", T0 + 100)])

    seen: list[OrderRow] = []
    token = None
    pages = 0
    while True:
        page, token = await db.list_orders("u1", 3, token)
        pages += 1
        seen.extend(page)
        if token is None:
            break
    assert pages == 3
    expected = sorted(mine, key=lambda o: (o.created_at_ms, o.order_id), reverse=True)
    assert seen == expected
    assert all(o.user_id == "u1" for o in seen)

    other, token = await db.list_orders("u2", 50, None)
    assert [o.order_id for o in other] == ["other-1"] and token is None


async def test_a_not_found_row_reads_with_its_own_trades_end_only(db: Database) -> None:
    """list_orders joins the ledger's status of the trade a TRADE_NOT_FOUND names: the
    caller's own trade only (another user's trade id tells nothing of it), and no other row,
    the pages' order unchanged."""
    await db.record_trade_events(
        [opened(1, "t-a", "ua"), closed(2, "t-a", "ua", kind=events_pb2.TRADE_EVENT_KIND_STOP_LOSS)]
    )

    def refused(order_id: str, user_id: str, at_ms: int, code: str) -> OrderRow:
        return dataclasses.replace(
            _order(order_id, user_id, at_ms, "error"),
            command="CLOSE_TRADE",
            error_code=code,
            message="refused",
            trade_id="t-a",
        )

    await db.record_orders(
        [
            refused("a-1", "ua", T0, "TRADE_NOT_FOUND"),
            refused("a-2", "ua", T0 + 1, "INVALID_ARGUMENT"),
            refused("a-3", "ua", T0 + 2, "TRADE_NOT_FOUND"),
            refused("b-1", "ub", T0, "TRADE_NOT_FOUND"),  # names ua's trade
        ]
    )
    seen, token = [], None
    while True:
        page, token = await db.list_orders("ua", 1, token)
        seen.extend(page)
        if token is None:
            break
    assert [(o.order_id, o.ended_as) for o in seen] == [
        ("a-3", "STOP_LOSS"), ("a-2", None), ("a-1", "STOP_LOSS")
    ]  # fmt: skip
    [other], _ = await db.list_orders("ub", 10, None)
    assert (other.order_id, other.ended_as) == ("b-1", None)


async def test_duplicate_order_id_keeps_the_first_record(db: Database) -> None:
    await db.record_orders([_order("dup", "u1", T0)])
    await db.record_orders([_order("dup", "u1", T0 + 5, status="error")])
    rows, _ = await db.list_orders("u1", 10, None)
    assert len(rows) == 1 and rows[0].status == "success" and rows[0].created_at_ms == T0


async def test_an_order_id_is_per_user(db: Database) -> None:
    batch = [_order("same", "u1", T0), _order("same", "u2", T0), _order("same", "u1", T0 + 1)]
    assert await db.record_orders(batch) == 2  # the repeat within the batch is skipped too
    assert await db.record_orders(batch) == 0
    for user in ("u1", "u2"):
        [row], _ = await db.list_orders(user, 10, None)
        assert (row.order_id, row.user_id, row.created_at_ms) == ("same", user, T0)


async def test_limit_is_clamped_and_bad_tokens_are_rejected(db: Database) -> None:
    for i in range(3):
        await db.record_orders([_order(f"o{i}", "u1", T0 + i)])
    page, token = await db.list_orders("u1", 0, None)
    assert len(page) == 1 and token is not None
    with pytest.raises(InvalidPageToken):
        await db.list_orders("u1", 10, "not-a-token!")
    # Well-formed but for its id: a NUL (Postgres refuses it in text: a 500 before), or too long.
    for row_id in ("\x00", "o" * 65):
        forged = base64.urlsafe_b64encode(f"1:{T0 * 1000}:{row_id}".encode()).decode()
        with pytest.raises(InvalidPageToken):
            await db.list_orders("u1", 10, forged)


async def test_email_tokens_are_single_use(db: Database) -> None:
    assert await db.use_email_token("jti-1", T0 + 600_000)
    assert not await db.use_email_token("jti-1", T0 + 600_000)
    assert await db.use_email_token("jti-2", T0 + 600_000)


async def test_revoked_sessions(db: Database) -> None:
    later = int(time.time() * 1000) + 86_400_000  # still valid: a starting gateway loads it
    assert (await db.current_revocations())[0] == []
    await db.revoke_session("s1", later)
    await db.revoke_session("s1", later)  # logging out twice is fine
    assert (await db.current_revocations())[0] == [("s1", later)]


async def test_check_and_connect_failure(db: Database, migrated_url: str) -> None:
    await db.check()  # raises when the server does not answer
    with pytest.raises(Exception):  # noqa: B017 - any driver error will do
        await Database.connect(migrated_url.replace("/t_", "/missing_t_", 1))


async def test_concurrent_sign_ins_create_one_user(db: Database) -> None:
    results = await asyncio.gather(*(db.get_or_create_user("Race@Example.com") for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1
