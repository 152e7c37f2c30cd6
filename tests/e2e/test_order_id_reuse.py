"""An order id used again after the engine's memory forgot it: a new command, a new trade, and
the history of the first one untouched (the security review's finding: the new trade took the
ended one's id and overwrote its row, and the new command's audit row was dropped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_mesh, sign_in, small_long
from tests.e2e.harness import MailCatcher, Mesh
from tests.polling import poll

ORDER_ID = "5f0c2a4e-8d1b-4c3a-9e7f-0a1b2c3d4e5f"


@pytest.fixture
def forgetful(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> Iterator[Mesh]:
    mesh = Mesh(
        redis_url, database_url, tmp_path, mail.port,
        extra_env={"ENGINE_IDEMPOTENCY_PER_USER": "1"},  # each command forgets the one before
    )  # fmt: skip
    with running_mesh(mesh) as running:
        yield running


def _engine(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    answer = client.post("/api/v1/engine", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, object] = answer.json()["engineResponse"]["data"]
    return data


def test_a_forgotten_order_id_opens_a_new_trade_and_keeps_the_old_history(
    forgetful: Mesh, mail: MailCatcher
) -> None:
    client = sign_in(forgetful, mail, "reuse@example.com")  # signing up opens the account
    first = _engine(client, {**small_long(), "orderId": ORDER_ID})["tradeId"]
    _engine(client, {"command": "CLOSE_TRADE", "tradeId": first})  # the memory forgets ORDER_ID
    second = _engine(client, {**small_long(), "orderId": ORDER_ID})["tradeId"]
    assert second != first

    closed = poll(
        lambda: client.get("/api/v1/trades/closed").json()["trades"],
        lambda trades: any(t["tradeId"] == first for t in trades),
        timeout_s=10,
        what="the first trade in the history",
    )
    [row] = [t for t in closed if t["tradeId"] == first]
    assert row["status"] == "CLOSED" and row["pnl"] is not None
    opened = client.get("/api/v1/trades/open").json()["trades"]
    assert [t["tradeId"] for t in opened] == [second]
    orders = poll(
        lambda: client.get("/api/v1/orders").json()["orders"],
        lambda rows: sum(r["orderId"] == ORDER_ID for r in rows) == 2,
        timeout_s=10,
        what="both commands under the order id audited",
    )
    assert {r["tradeId"] for r in orders if r["orderId"] == ORDER_ID} == {first, second}
