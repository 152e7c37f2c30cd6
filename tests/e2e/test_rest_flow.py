"""The exchange as a trader meets it through REST: sign up by mail, trade, close, and see
every number (SPEC section 4) and every row in Postgres; SL, TP and liquidation driven by a
replay file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from tests.e2e.conftest import sign_in, wait_for_price
from tests.e2e.harness import MailCatcher, Mesh, write_replay
from tests.e2e.money import liquidation_price, pnl
from tests.polling import poll


def engine(client: httpx.Client, command: str, **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/v1/engine", json={"command": command, **body})
    envelope = response.json()
    assert envelope["success"] is True, envelope
    assert response.status_code == 200
    assert envelope["engineResponse"]["status"] == "success"
    return envelope["engineResponse"]["data"]  # type: ignore[no-any-return]


def num(value: object) -> Decimal:
    return Decimal(str(value))


def wait_rows(
    database_url: str, sql: str, args: tuple[object, ...], count: int, timeout_s: float = 20.0
) -> list[tuple[object, ...]]:
    def fetch() -> list[tuple[object, ...]]:
        with psycopg.connect(database_url) as conn:
            return conn.execute(sql, args).fetchall()

    return poll(
        fetch, lambda rows: len(rows) >= count, timeout_s=timeout_s, what=f"{count} rows of {sql!r}"
    )


def test_sign_up_trade_close_and_audit(mesh: Mesh, mail: MailCatcher) -> None:
    client = sign_in(mesh, mail, "alice@example.com")
    assert engine(client, "GET_USD_BALANCE")["usdBalance"] == 5000

    opened = engine(
        client,
        "CREATE_TRADE",
        asset="SOL_USDC",
        direction="LONG",
        margin=100,
        leverage=100,
        stopLossPrice=230,
        takeProfitPrice=250,
    )
    assert num(opened["entryPrice"]) == Decimal("235.95")  # a LONG opens at the ask
    assert num(opened["liquidationPrice"]) == liquidation_price("LONG", Decimal("235.95"), 100, 6)
    assert opened["leverage"] == 10 and num(opened["margin"]) == 100
    assert num(opened["stopLossPrice"]) == 230 and num(opened["takeProfitPrice"]) == 250
    trade_id = opened["tradeId"]

    listed = client.get("/api/v1/trades/open").json()["trades"]
    assert [t["tradeId"] for t in listed] == [trade_id]
    assert num(listed[0]["unrealizedPnl"]) == pnl(
        "LONG", Decimal(100), 100, Decimal("235.95"), Decimal("235.90")
    )
    assert engine(client, "GET_USD_BALANCE")["usdBalance"] == 4900

    closed = engine(client, "CLOSE_TRADE", tradeId=trade_id)
    expected_pnl = pnl("LONG", Decimal(100), 100, Decimal("235.95"), Decimal("235.90"))
    assert num(closed["closePrice"]) == Decimal("235.90")  # and closes at the bid
    assert num(closed["pnl"]) == expected_pnl
    assert num(closed["totalReturn"]) == 100 + expected_pnl
    assert num(closed["marginReturned"]) == 100 + expected_pnl
    assert num(engine(client, "GET_USD_BALANCE")["usdBalance"]) == 5000 + expected_pnl
    assert client.get("/api/v1/trades/open").json()["trades"] == []

    # Closing it again is a clean 404; nothing changes.
    again = client.post("/api/v1/engine", json={"command": "CLOSE_TRADE", "tradeId": trade_id})
    assert again.status_code == 404 and again.json()["success"] is False

    # The ledger may show the trade OPEN for a moment before its close lands: wait for that.
    rows = wait_rows(
        mesh.database_url,
        "SELECT status, pnl, exit_price FROM trades WHERE trade_id = %s AND status <> 'OPEN'",
        (trade_id,),
        1,
    )
    assert rows[0][0] == "CLOSED"
    assert Decimal(rows[0][1]) / 10_000 == expected_pnl
    # The ledger writes them from the engine's audit stream, so they arrive a moment after the
    # answers: account, open, close, failed close (read-only queries are not audited).
    orders = wait_rows(
        mesh.database_url, "SELECT command, status FROM orders ORDER BY created_at", (), 4
    )
    assert ("CREATE_TRADE", "success") in orders and ("CLOSE_TRADE", "success") in orders
    assert ("CLOSE_TRADE", "error") in orders
    assert "GET_USD_BALANCE" not in {command for command, _ in orders}
    history = client.get("/api/v1/orders").json()["orders"]
    assert len(history) == len(orders)
    closed_list = client.get("/api/v1/trades/closed").json()["trades"]
    assert closed_list[0]["tradeId"] == trade_id and closed_list[0]["status"] == "CLOSED"
    # Once the ledger has the close, a close or a change of it still finds no trade (404),
    # and says how it ended: a trader whose click met a stop learns why.
    told: dict[str, tuple[str, str]] = {}
    for body in ({"command": "CLOSE_TRADE"}, {"command": "MODIFY_TRADE", "takeProfitPrice": 300}):
        ended = client.post("/api/v1/engine", json={**body, "tradeId": trade_id})
        assert ended.status_code == 404, ended.text
        envelope = ended.json()
        assert (envelope["code"], envelope["field"]) == ("TRADE_NOT_FOUND", "tradeId")
        assert envelope["error"] == "the trade has already ended: CLOSED"
        told[envelope["orderId"]] = (envelope["code"], envelope["error"])
    # The audit trail lists those refusals as they were told, not as the engine's bare "not
    # found" (which their rows keep: the engine forgets a trade once it ends).
    listed = poll(
        lambda: {o["orderId"]: o for o in client.get("/api/v1/orders").json()["orders"]},
        lambda rows: set(told) <= set(rows),
        timeout_s=10,
        what="the refused commands' audit rows",
    )
    assert {i: (listed[i]["errorCode"], listed[i]["message"]) for i in told} == told
    with psycopg.connect(mesh.database_url) as conn:
        stored = conn.execute(
            "SELECT DISTINCT error_code FROM orders WHERE order_id = ANY(%s)", (list(told),)
        ).fetchall()
    assert stored == [("TRADE_NOT_FOUND",)]


def test_stop_loss_take_profit_and_liquidation_from_a_replay(
    mesh: Mesh, mail: MailCatcher, tmp_path: Path
) -> None:
    client = sign_in(mesh, mail, "bob@example.com")
    take = engine(
        client,
        "CREATE_TRADE",
        asset="SOL_USDC",
        direction="LONG",
        margin=100,
        leverage=100,
        takeProfitPrice=240,
    )
    stop = engine(
        client,
        "CREATE_TRADE",
        asset="SOL_USDC",
        direction="LONG",
        margin=100,
        leverage=100,
        stopLossPrice=230,
    )
    short = engine(
        client, "CREATE_TRADE", asset="SOL_USDC", direction="SHORT", margin=50, leverage=1000
    )
    assert num(short["entryPrice"]) == Decimal("235.90")  # a SHORT opens at the bid
    assert num(short["liquidationPrice"]) == liquidation_price("SHORT", Decimal("235.90"), 1000, 6)

    # The take profit is above the price: the next tick below it must not fire it.
    moves = write_replay(
        tmp_path / "moves.csv",
        [
            (0, "SOL_USDC", "236.00", "236.05"),
            (50, "SOL_USDC", "241.00", "241.05"),
            (100, "SOL_USDC", "229.00", "229.05"),
        ],
    )
    mesh.stop("poller")
    mesh.start("poller", POLLER_SOURCE=f"replay:{moves}", POLLER_REPLAY_SPEED="1")
    wait_for_price(mesh, "SOL_USDC", "229050000")

    closed = poll(
        lambda: {t["tradeId"]: t for t in client.get("/api/v1/trades/closed").json()["trades"]},
        lambda closed: len(closed) >= 3,
        timeout_s=20,
        must=False,  # the assertion below names the trades that differ
    )
    assert set(closed) == {take["tradeId"], stop["tradeId"], short["tradeId"]}

    tp = closed[take["tradeId"]]
    assert tp["status"] == "TAKE_PROFIT" and num(tp["exitPrice"]) == Decimal("241.00")
    assert num(tp["pnl"]) == pnl("LONG", Decimal(100), 100, Decimal("235.95"), Decimal("241.00"))
    liq = closed[short["tradeId"]]
    assert liq["status"] == "LIQUIDATED" and num(liq["exitPrice"]) == Decimal("241.05")
    assert num(liq["pnl"]) == -50 and num(liq["totalReturn"]) == 0  # loss capped at the margin
    sl = closed[stop["tradeId"]]
    assert sl["status"] == "STOP_LOSS" and num(sl["exitPrice"]) == Decimal("229.00")
    assert num(sl["pnl"]) == pnl("LONG", Decimal(100), 100, Decimal("235.95"), Decimal("229.00"))

    balance = num(engine(client, "GET_USD_BALANCE")["usdBalance"])
    assert balance == 5000 + num(tp["pnl"]) + num(liq["pnl"]) + num(sl["pnl"])
    events = wait_rows(mesh.database_url, "SELECT kind FROM trade_events ORDER BY event_seq", (), 6)
    assert sorted(k for (k,) in events) == sorted(
        ["OPENED", "OPENED", "OPENED", "TAKE_PROFIT", "LIQUIDATED", "STOP_LOSS"]
    )


def test_a_list_read_right_after_an_answer_finds_it(mesh: Mesh, mail: MailCatcher) -> None:
    """Read-your-writes: the closed trades and the audit trail come from the ledger's tables,
    written a moment after the engine's answer; a list read waits for the ledger to have
    written what came before it, so a close is listed (and the history adds up to the
    balance) at once, not tens of milliseconds later."""
    client = sign_in(mesh, mail, "dave@example.com")
    for round_ in range(5):
        trade_id = engine(
            client, "CREATE_TRADE", asset="SOL_USDC", direction="SHORT", margin=2, leverage=10
        )["tradeId"]
        closing = client.post(
            "/api/v1/engine", json={"command": "CLOSE_TRADE", "tradeId": trade_id}
        ).json()
        assert closing["success"] is True, closing
        closed = client.get("/api/v1/trades/closed", params={"limit": 5}).json()["trades"]
        assert closed[0]["tradeId"] == trade_id, (round_, closed[:1])
        balance = num(engine(client, "GET_USD_BALANCE")["usdBalance"])
        history = client.get("/api/v1/trades/closed", params={"limit": 200}).json()["trades"]
        assert balance == 5000 + sum(num(t["pnl"]) for t in history), round_
        orders = client.get("/api/v1/orders", params={"limit": 1}).json()["orders"]
        assert orders[0]["orderId"] == closing["orderId"], (round_, orders)


def test_the_openapi_says_which_calls_need_a_session(mesh: Mesh) -> None:
    """Every operation the OpenAPI marks as needing a session (bearer or cookie, and not "or
    none") answers 401 without one, and every other answers without a 401: a client generated
    from the document sends the token exactly where it is needed."""
    schema = httpx.get(f"{mesh.base_url}/openapi.json").json()
    checked = []
    with httpx.Client(base_url=mesh.base_url) as anonymous:
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                security = operation.get("security", [])
                needed = bool(security) and {} not in security
                body = {"command": "GET_USD_BALANCE"} if path.endswith("/engine") else {}
                answer = (
                    anonymous.post(path, json=body)
                    if method == "post"
                    else anonymous.request(method.upper(), path)
                )
                assert (answer.status_code == 401) == needed, (method, path, answer.text)
                checked.append(path)
    assert {"/api/v1/trades/pending", "/api/v1/user/logout/all", "/api/v1/price"} <= set(checked)


def test_an_inverted_candle_range_is_refused_alike_over_rest_and_grpc(mesh: Mesh) -> None:
    """REST answered [] where gRPC's ListCandles refused the same range: both refuse it now,
    each naming the field as its client knows it."""
    answer = httpx.get(
        f"{mesh.base_url}/api/v1/candles",
        params={"asset": "SOL_USDC", "startTime": 2000, "endTime": 1000},
    )
    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    assert (envelope["code"], envelope["field"]) == ("INVALID_ARGUMENT", "startTime")
    assert envelope["error"] == "startTime must not be after endTime"
