"""A used order id's first answer, compared with what a later command asks for: the engine
core gives the answer (the real one, through the service's conversions), and the gateway's
check must accept the same command again and refuse any other under that order id."""

from __future__ import annotations

from typing import TypeVar

from exchange.v1 import commands_pb2, responses_pb2, types_pb2
from google.protobuf.message import Message

from engine_svc.core import Engine
from engine_svc.core.types import Price, Tick
from engine_svc.service.convert import command_from_proto, result_to_proto
from gateway_svc.grpc_services.order_reuse import answers_another_command
from mesh.assets import ASSET_DECIMALS

ASSETS = dict(ASSET_DECIMALS)
LONG, SHORT = types_pb2.DIRECTION_LONG, types_pb2.DIRECTION_SHORT
M = TypeVar("M", bound=Message)


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


class Exchange:
    def __init__(self) -> None:
        self.engine = Engine(ASSETS)
        self.ts_ms = 1_000
        self.counter = 0
        self.engine.apply_tick(Tick("SOL_USDC", Price(235_900_000), Price(236_000_000), 1))
        self.run("create_account", commands_pb2.CreateAccount())

    def run(self, field: str, body: Message) -> responses_pb2.CommandResult:
        self.counter += 1
        self.ts_ms += 1
        command = commands_pb2.Command(
            order_id=f"00000000-0000-4000-8000-{self.counter:012d}",
            user_id="u1",
            email="u1@example.com",
            ts_ms=self.ts_ms,
        )
        getattr(command, field).CopyFrom(body)
        result = result_to_proto(
            self.engine.execute(command_from_proto(command, ASSETS)).response, ASSETS
        )
        assert not result.error_code, result.message
        return result


def _with(body: M, changes: dict[str, object]) -> M:
    """`body` with each named field set (a message copied in) or, for None, cleared."""
    for name, value in changes.items():
        if value is None:
            body.ClearField(name)
        elif isinstance(value, Message):
            getattr(body, name).CopyFrom(value)
        else:
            setattr(body, name, value)
    return body


def create(**changes: object) -> commands_pb2.CreateTrade:
    body = commands_pb2.CreateTrade(
        asset="SOL_USDC", direction=LONG, margin=dec(100_000, 4), leverage=100,
        take_profit_price=dec(240_000_000, 6),
    )  # fmt: skip
    return _with(body, changes)


def place(**changes: object) -> commands_pb2.PlaceOrder:
    body = commands_pb2.PlaceOrder(
        asset="SOL_USDC", direction=LONG, order_type=types_pb2.ORDER_TYPE_LIMIT,
        price=dec(233_000_000, 6), margin=dec(100_000, 4), leverage=50,
        stop_loss_price=dec(225_000_000, 6), expires_at_ms=9_000_000_000_000,
    )  # fmt: skip
    return _with(body, changes)


def test_a_new_trade_differs_by_any_field_it_sets() -> None:
    exchange = Exchange()
    asked = create()
    answer = exchange.run("create_trade", asked)
    assert not answers_another_command("create_trade", asked, answer)
    # The same amounts at another scale are the same command.
    same = create(margin=dec(10, 0), take_profit_price=dec(240, 0))
    assert not answers_another_command("create_trade", same, answer)
    for other in (
        create(asset="ETH_USDC"),
        create(direction=SHORT),
        create(margin=dec(100_001, 4)),
        create(leverage=99),
        create(take_profit_price=dec(241_000_000, 6)),
        create(take_profit_price=None),
        create(stop_loss_price=dec(230_000_000, 6)),
        create(trailing_stop_distance=dec(2_000_000, 6)),
    ):
        assert answers_another_command("create_trade", other, answer), other

    trailing = create(trailing_stop_distance=dec(2_000_000, 6))
    trailing_answer = exchange.run("create_trade", trailing)
    # Its stop shows as the stop loss; the request named the distance only.
    assert trailing_answer.trade_opened.trade.HasField("stop_loss_price")
    assert not answers_another_command("create_trade", trailing, trailing_answer)
    assert answers_another_command(
        "create_trade", create(trailing_stop_distance=dec(3_000_000, 6)), trailing_answer
    )
    assert answers_another_command("create_trade", create(), trailing_answer)


def test_a_pending_order_differs_by_its_price_expiry_and_levels() -> None:
    exchange = Exchange()
    asked = place()
    answer = exchange.run("place_order", asked)
    assert not answers_another_command("place_order", asked, answer)
    for other in (
        place(order_type=types_pb2.ORDER_TYPE_STOP, price=dec(237_000_000, 6)),
        place(price=dec(232_000_000, 6)),
        place(expires_at_ms=9_000_000_000_001),
        place(expires_at_ms=None),
        place(stop_loss_price=None),
        place(stop_loss_price=None, trailing_stop_distance=dec(1_000_000, 6)),
        place(take_profit_price=dec(250_000_000, 6)),
        place(leverage=51),
    ):
        assert answers_another_command("place_order", other, answer), other
    trailing = place(stop_loss_price=None, trailing_stop_distance=dec(1_000_000, 6))
    assert not answers_another_command(
        "place_order", trailing, exchange.run("place_order", trailing)
    )


def test_a_close_differs_by_its_trade_and_its_part() -> None:
    exchange = Exchange()
    first = exchange.run("create_trade", create()).trade_opened.trade.trade_id
    second = exchange.run("create_trade", create()).trade_opened.trade.trade_id
    whole = commands_pb2.CloseTrade(trade_id=first)
    answer = exchange.run("close_trade", whole)
    assert not answers_another_command("close_trade", whole, answer)
    assert answers_another_command("close_trade", commands_pb2.CloseTrade(trade_id=second), answer)
    part = commands_pb2.CloseTrade(trade_id=first, margin=dec(40_000, 4))
    assert answers_another_command("close_trade", part, answer)
    # Naming the whole margin is a whole close: the same command as closing it all.
    named = commands_pb2.CloseTrade(trade_id=first, margin=dec(10, 0))
    assert not answers_another_command("close_trade", named, answer)

    part = commands_pb2.CloseTrade(trade_id=second, margin=dec(40_000, 4))
    part_answer = exchange.run("close_trade", part)
    assert not answers_another_command("close_trade", part, part_answer)
    for other in (
        commands_pb2.CloseTrade(trade_id=second),
        commands_pb2.CloseTrade(trade_id=second, margin=dec(30_000, 4)),
        commands_pb2.CloseTrade(trade_id=first, margin=dec(40_000, 4)),
    ):
        assert answers_another_command("close_trade", other, part_answer), other


def test_a_cancel_differs_by_its_order() -> None:
    exchange = Exchange()
    first = exchange.run("place_order", place()).order_placed.trade.trade_id
    second = exchange.run("place_order", place()).order_placed.trade.trade_id
    asked = commands_pb2.CancelOrder(trade_id=first)
    answer = exchange.run("cancel_order", asked)
    assert not answers_another_command("cancel_order", asked, answer)
    assert answers_another_command(
        "cancel_order", commands_pb2.CancelOrder(trade_id=second), answer
    )


def modify(trade_id: str, **changes: types_pb2.PriceChange) -> commands_pb2.ModifyTrade:
    return _with(commands_pb2.ModifyTrade(trade_id=trade_id, asset="SOL_USDC"), changes)


def set_to(units: int) -> types_pb2.PriceChange:
    return types_pb2.PriceChange(value=dec(units, 6))


REMOVE = types_pb2.PriceChange()


def test_a_change_differs_by_its_trade_and_every_level_it_names() -> None:
    exchange = Exchange()
    trade_id = exchange.run("create_trade", create()).trade_opened.trade.trade_id
    other_id = exchange.run("create_trade", create()).trade_opened.trade.trade_id
    asked = modify(trade_id, stop_loss_price=set_to(234_000_000), take_profit_price=REMOVE)
    answer = exchange.run("modify_trade", asked)
    assert not answers_another_command("modify_trade", asked, answer)
    # What the request leaves out is not compared: only the levels it names.
    assert not answers_another_command(
        "modify_trade", modify(trade_id, stop_loss_price=set_to(234_000_000)), answer
    )
    for other in (
        modify(other_id, stop_loss_price=set_to(234_000_000), take_profit_price=REMOVE),
        modify(trade_id, stop_loss_price=set_to(233_900_000)),
        modify(trade_id, stop_loss_price=REMOVE),
        modify(trade_id, take_profit_price=set_to(250_000_000)),
        modify(trade_id, trailing_stop_distance=set_to(1_000_000)),
    ):
        assert answers_another_command("modify_trade", other, answer), other

    trail = modify(trade_id, trailing_stop_distance=set_to(1_000_000))
    trail_answer = exchange.run("modify_trade", trail)
    assert not answers_another_command("modify_trade", trail, trail_answer)
    assert answers_another_command(
        "modify_trade", modify(trade_id, trailing_stop_distance=REMOVE), trail_answer
    )

    order_id = exchange.run("place_order", place()).order_placed.trade.trade_id
    moved = commands_pb2.ModifyTrade(
        trade_id=order_id, asset="SOL_USDC", price=dec(232_500_000, 6),
        expires_at=types_pb2.ExpiryChange(),
    )  # fmt: skip
    moved_answer = exchange.run("modify_trade", moved)
    assert not answers_another_command("modify_trade", moved, moved_answer)
    for other in (
        commands_pb2.ModifyTrade(trade_id=order_id, price=dec(232_400_000, 6)),
        commands_pb2.ModifyTrade(
            trade_id=order_id, expires_at=types_pb2.ExpiryChange(expires_at_ms=9 * 10**12)
        ),
    ):
        assert answers_another_command("modify_trade", other, moved_answer), other


def test_a_command_under_another_kinds_order_id_is_another_command() -> None:
    exchange = Exchange()
    account = exchange.engine.execute(
        command_from_proto(
            commands_pb2.Command(
                order_id="00000000-0000-4000-8000-000000000001", user_id="u1",
                email="u1@example.com", ts_ms=exchange.ts_ms, create_trade=create(),
            ),
            ASSETS,
        )
    ).response  # fmt: skip
    answer = result_to_proto(account, ASSETS)  # the account's own first answer, remembered
    assert answer.WhichOneof("data") == "account_created"
    for field, body in (
        ("create_trade", create()),
        ("cancel_order", commands_pb2.CancelOrder(trade_id="t")),
        ("close_trade", commands_pb2.CloseTrade(trade_id="t")),
    ):
        assert answers_another_command(field, body, answer), field
    # A read's answer is no command's: nothing to compare.
    assert not answers_another_command("get_account", commands_pb2.GetAccount(), answer)


def test_a_fixed_stop_at_the_trails_stop_is_not_the_trails_answer() -> None:
    """A trailing trade shows where its stop stands as its stop loss: a change that sets that
    very number as a fixed stop (removing the trail) is another command than one that left
    the trail on."""
    exchange = Exchange()
    trade_id = exchange.run(
        "create_trade", create(trailing_stop_distance=dec(2_000_000, 6))
    ).trade_opened.trade.trade_id
    answer = exchange.run("modify_trade", modify(trade_id, take_profit_price=set_to(250_000_000)))
    shown = answer.trade_modified.trade.stop_loss_price
    assert answer.trade_modified.trade.HasField("trailing_stop_distance")
    fixed = modify(trade_id, stop_loss_price=types_pb2.PriceChange(value=shown))
    assert answers_another_command("modify_trade", fixed, answer)
