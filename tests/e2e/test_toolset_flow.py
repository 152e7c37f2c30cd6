"""The trader's toolset end to end through REST, with a real engine, ledger and a replayed
price path (SPEC 3a): place orders (margin reserved at once), cancel one, let one expire on the
engine's clock, fill one on the path at the tick's ask, modify its levels, close part of it,
trail its stop up the path and fire it; every number against section 4's formulas
(tests/e2e/money.py) and every end in Postgres and in /trades/closed."""

from __future__ import annotations

import json
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import sign_in, wait_for_price
from tests.e2e.harness import MailCatcher, Mesh, write_replay
from tests.e2e.money import liquidation_price, pnl
from tests.e2e.test_rest_flow import engine, num, wait_rows
from tests.polling import poll


def refused(client: httpx.Client, command: str, **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/v1/engine", json={"command": command, **body})
    assert response.status_code in (400, 404), response.text
    return response.json()  # type: ignore[no-any-return]


def closed_rows(client: httpx.Client, want: int, timeout_s: float = 20.0) -> list[dict]:  # type: ignore[type-arg]
    return poll(
        lambda: client.get("/api/v1/trades/closed").json()["trades"],
        lambda rows: len(rows) >= want,
        timeout_s=timeout_s,
        what=f"{want} closed trades",
    )


class TradeEvents:
    """The caller's trade events from the WebSocket, collected on a thread of their own."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[dict] = []  # type: ignore[type-arg]
        self._connection = connect(url, additional_headers={"Cookie": f"authToken={token}"})
        self._socket = self._connection.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> TradeEvents:
        while json.loads(self._socket.recv(timeout=10)).get("type") != "auth":
            pass
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.__exit__(None, None, None)
        self._thread.join(timeout=5)

    def _read(self) -> None:
        try:
            for raw in self._socket:
                message = json.loads(raw)
                if message.get("type") == "trade":
                    self.events.append(message)
        except ConnectionClosed:  # the test closing it ends the reader
            return

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[dict]:  # type: ignore[type-arg]
        return poll(
            lambda: list(self.events),
            lambda events: len(events) >= count,
            timeout_s=timeout_s,
            must=False,  # the caller compares what came with what should have
        )


def test_place_fill_modify_partially_close_trail_cancel_expire(
    mesh: Mesh, mail: MailCatcher, tmp_path: Path
) -> None:
    client = sign_in(mesh, mail, "carol@example.com")
    ws_url = mesh.base_url.replace("http://", "ws://") + "/api/v1/ws"
    with TradeEvents(ws_url, client.cookies["authToken"]) as socket:
        _flow(mesh, client, tmp_path, socket)


def _flow(mesh: Mesh, client: httpx.Client, tmp_path: Path, socket: TradeEvents) -> None:
    # Far enough that it cannot expire before its turn, however slow the machine: it is moved
    # to a moment from now once its turn has come (the expiry's place among the events is
    # checked below). A fixed 3 s expired early, before the fill, on a busy CI machine.
    expires_at = int(time.time() * 1000) + 120_000
    expiring = engine(
        client, "PLACE_ORDER", asset="SOL_USDC", direction="SHORT", orderType="STOP",
        price=230, margin=50, expiresAt=expires_at,
    )  # fmt: skip
    assert expiring["status"] == "PENDING" and expiring["expiresAt"] == expires_at
    limit = engine(
        client, "PLACE_ORDER", asset="SOL_USDC", direction="LONG", orderType="LIMIT",
        price=233, margin=100, leverage=100, takeProfitPrice=240,
    )  # fmt: skip
    assert limit["orderType"] == "LIMIT" and num(limit["price"]) == 233
    stop_order_id = str(uuid.uuid4())
    stop = engine(
        client, "PLACE_ORDER", asset="SOL_USDC", direction="LONG", orderType="STOP",
        price=250, margin=10, orderId=stop_order_id,
    )  # fmt: skip
    # An order id names one command: the stop's again, on its cancel, is refused (no 500) and
    # cancels nothing (the stop is still pending below).
    reused = refused(client, "CANCEL_ORDER", tradeId=stop["tradeId"], orderId=stop_order_id)
    assert (reused["code"], reused["field"], reused["orderId"]) == (
        "INVALID_ARGUMENT", "orderId", stop_order_id
    ), reused  # fmt: skip
    assert reused["error"].startswith("orderId was already used for another command"), reused
    # So is another order under it (its first answer would come back for a different order),
    # while the same order again is a retry: its first answer, nothing placed twice.
    other = refused(
        client, "PLACE_ORDER", asset="SOL_USDC", direction="LONG", orderType="STOP",
        price=250, margin=20, orderId=stop_order_id,
    )  # fmt: skip
    assert (other["code"], other["field"]) == ("INVALID_ARGUMENT", "orderId"), other
    again = engine(
        client, "PLACE_ORDER", asset="SOL_USDC", direction="LONG", orderType="STOP",
        price=250, margin=10, orderId=stop_order_id,
    )  # fmt: skip
    assert again["tradeId"] == stop["tradeId"]
    # Margins are reserved at once.
    assert num(engine(client, "GET_USD_BALANCE")["usdBalance"]) == 5000 - 50 - 100 - 10
    # A LONG LIMIT above the ask is refused and changes nothing.
    bad = refused(
        client, "PLACE_ORDER", asset="SOL_USDC", direction="LONG", orderType="LIMIT",
        price=236, margin=10,
    )  # fmt: skip
    assert (bad["code"], bad["field"]) == ("INVALID_PRICE", "price"), bad
    pending = client.get("/api/v1/trades/pending").json()["trades"]
    assert [t["tradeId"] for t in pending] == [
        expiring["tradeId"], limit["tradeId"], stop["tradeId"]
    ]  # fmt: skip

    cancelled = engine(client, "CANCEL_ORDER", tradeId=stop["tradeId"])
    assert cancelled["status"] == "CANCELLED" and num(cancelled["marginReturned"]) == 10
    # Cancelled again: not pending any more, a 400 (SPEC 3a), once the ledger has the end
    # (the engine forgets an ended order; until the ledger writes it, the 404 stands).
    again = poll(
        lambda: refused(client, "CANCEL_ORDER", tradeId=stop["tradeId"]),
        lambda envelope: envelope["code"] != "TRADE_NOT_FOUND",
        timeout_s=10,
        what="the ledger's record of the cancel",
    )
    assert (again["code"], again["field"]) == ("NOT_PENDING", "tradeId"), again
    assert again["error"] == "the order has already ended: CANCELLED"
    assert refused(client, "CLOSE_TRADE", tradeId=limit["tradeId"])["code"] == "NOT_OPEN"
    moved = engine(client, "MODIFY_TRADE", tradeId=limit["tradeId"], price=233.1)
    assert moved["status"] == "PENDING" and num(moved["price"]) == Decimal("233.1")

    # The path: above the limit (no fill), then through it: fills at that tick's ask.
    path = write_replay(
        tmp_path / "fill.csv",
        [(0, "SOL_USDC", "233.50", "233.55"), (50, "SOL_USDC", "232.90", "232.95")],
    )
    mesh.stop("poller")
    mesh.start("poller", POLLER_SOURCE=f"replay:{path}", POLLER_REPLAY_SPEED="1")
    wait_for_price(mesh, "SOL_USDC", "232950000")
    entry = Decimal("232.95")
    [trade] = poll(
        lambda: client.get("/api/v1/trades/open").json()["trades"],
        timeout_s=20,
        what="the limit order's fill",
    )
    assert trade["tradeId"] == limit["tradeId"] and num(trade["entryPrice"]) == entry
    assert trade["orderType"] == "LIMIT" and num(trade["price"]) == Decimal("233.1")
    assert num(trade["liquidationPrice"]) == liquidation_price("LONG", entry, 100, 6)
    assert num(trade["takeProfitPrice"]) == 240  # live from the fill on

    modify_order_id = str(uuid.uuid4())
    modified = engine(
        client, "MODIFY_TRADE", tradeId=trade["tradeId"], stopLossPrice=225, orderId=modify_order_id
    )
    assert modified["status"] == "OPEN" and num(modified["stopLossPrice"]) == 225
    trailing = engine(client, "MODIFY_TRADE", tradeId=trade["tradeId"], trailingStopDistance=2)
    # The trail starts at the bid now (232.90); setting it removed the fixed stop.
    assert num(trailing["trailingStopDistance"]) == 2
    assert num(trailing["stopLossPrice"]) == Decimal("230.90")

    # The expiring order's expiry moved to 1.5 s from now (time for the command to arrive on
    # a busy machine: an expiry already past is refused); the partial close of 40 at
    # the bid comes after it, and the engine's clock passes the expiry by then.
    expires_at = int(time.time() * 1000) + 1_500
    moved_expiry = engine(client, "MODIFY_TRADE", tradeId=expiring["tradeId"], expiresAt=expires_at)
    assert moved_expiry["status"] == "PENDING"
    time.sleep(max(0.0, expires_at / 1000 + 0.2 - time.time()))
    part = engine(client, "CLOSE_TRADE", tradeId=trade["tradeId"], margin=40)
    part_pnl = pnl("LONG", Decimal(40), 100, entry, Decimal("232.90"))
    assert num(part["pnl"]) == part_pnl and num(part["remainingMargin"]) == 60
    assert num(part["marginReturned"]) == 40

    # Up the path the stop follows the highest bid (238.00 - 2), then the bid falls through it.
    trail = write_replay(
        tmp_path / "trail.csv",
        [
            (0, "SOL_USDC", "236.00", "236.05"),
            (50, "SOL_USDC", "238.00", "238.05"),
            (100, "SOL_USDC", "235.90", "235.95"),
        ],
    )
    mesh.stop("poller")
    mesh.start("poller", POLLER_SOURCE=f"replay:{trail}", POLLER_REPLAY_SPEED="1")
    wait_for_price(mesh, "SOL_USDC", "235950000")

    rows = closed_rows(client, 4)
    by_status: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for row in rows:
        by_status.setdefault(row["status"], []).append(row)
    [fired] = by_status["STOP_LOSS"]
    assert fired["tradeId"] == trade["tradeId"] and num(fired["exitPrice"]) == Decimal("235.90")
    rest_pnl = pnl("LONG", Decimal(60), 100, entry, Decimal("235.90"))
    assert num(fired["pnl"]) == rest_pnl and num(fired["margin"]) == 60
    [partial] = [r for r in by_status["CLOSED"] if r["partial"]]
    assert partial["tradeId"] == trade["tradeId"] and num(partial["pnl"]) == part_pnl
    assert [r["tradeId"] for r in by_status["CANCELLED"]] == [stop["tradeId"]]
    assert [r["tradeId"] for r in by_status["EXPIRED"]] == [expiring["tradeId"]]
    assert by_status["EXPIRED"][0]["pnl"] is None
    for unfilled in (*by_status["CANCELLED"], *by_status["EXPIRED"]):
        # No fill: entryPrice is the order's price (the schema says so), nothing closed it.
        assert num(unfilled["entryPrice"]) == num(unfilled["price"]), unfilled
        assert unfilled["exitPrice"] is None and unfilled["totalReturn"] is None, unfilled
    assert client.get("/api/v1/trades/pending").json()["trades"] == []

    # The history adds up to the balance.
    balance = num(engine(client, "GET_USD_BALANCE")["usdBalance"])
    assert balance == 5000 + part_pnl + rest_pnl

    kinds = wait_rows(mesh.database_url, "SELECT kind FROM trade_events ORDER BY event_seq", (), 12)
    # The same events, in the same order, pushed on the WebSocket.
    pushed = socket.wait_for(12)
    assert [e["event"] for e in pushed] == [k for (k,) in kinds]
    assert pushed[-1]["trade"]["status"] == "STOP_LOSS"
    # The stop-loss change retried now that its trade has ended: its first answer, unchanged.
    retried = engine(
        client, "MODIFY_TRADE", tradeId=trade["tradeId"], stopLossPrice=225, orderId=modify_order_id
    )
    assert retried == modified
    # A new change of the ended trade: not found.
    assert refused(client, "MODIFY_TRADE", tradeId=trade["tradeId"], stopLossPrice=224)["code"] == (
        "TRADE_NOT_FOUND"
    )
    assert pushed[-2]["trade"]["partial"] is True
    assert pushed[0]["trade"]["status"] == "PENDING"
    # The fill's OPENED event says it came from an order (SPEC 3a), and at what price.
    filled = pushed[5]["trade"]
    assert (pushed[5]["event"], filled["orderType"], num(filled["price"])) == (
        "OPENED", "LIMIT", Decimal("233.1")
    )  # fmt: skip
    assert [k for (k,) in kinds] == [
        "ORDER_PLACED", "ORDER_PLACED", "ORDER_PLACED", "ORDER_CANCELLED", "ORDER_MODIFIED",
        "OPENED", "TRADE_MODIFIED", "TRADE_MODIFIED", "ORDER_MODIFIED", "ORDER_EXPIRED",
        "TRADE_PARTIALLY_CLOSED", "STOP_LOSS",
    ]  # fmt: skip
    orders = wait_rows(
        mesh.database_url, "SELECT command, status FROM orders ORDER BY created_at", (), 11
    )
    commands = [c for c, _ in orders]
    for name in ("PLACE_ORDER", "CANCEL_ORDER", "MODIFY_TRADE", "CLOSE_TRADE"):
        assert name in commands
