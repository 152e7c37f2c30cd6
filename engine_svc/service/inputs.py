"""Applying one stream entry to the core: the same code path live and during replay."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from exchange.v1 import commands_pb2, prices_pb2, responses_pb2
from google.protobuf.message import DecodeError

from engine_svc.core.engine import Engine
from engine_svc.core.types import Command, ResultData, Tick, TradeEvent
from engine_svc.service.convert import (
    MalformedCommand,
    command_from_proto,
    rejection_to_proto,
    result_to_proto,
    ticks_from_proto,
)

log = logging.getLogger(__name__)

QUERIES = frozenset(
    {"get_usd_balance", "get_balance", "get_open_trades", "get_account", "get_pending_orders"}
)
"""The read-only commands (the `Command.body` oneof's names); every other command changes, or
asks to change, state and is audited."""


@dataclass(slots=True)
class Applied:
    """What one entry did: whether state changed (so it must be journaled), and its outputs."""

    changed: bool
    reply_to: str = ""
    result: responses_pb2.CommandResult | None = None
    events: list[TradeEvent] = field(default_factory=list)
    data: ResultData | None = None
    """The core's answer data behind `result` (its trade view is the one events carry)."""


@dataclass(slots=True)
class Decoded:
    """A stream entry parsed for the core: its command or ticks, or nothing to apply.

    Decoding needs no engine, so recovery decodes the journal while the snapshot loads.
    """

    command: Command | None = None
    ticks: list[Tick] | None = None
    reply_to: str = ""
    rejection: responses_pb2.CommandResult | None = None
    """The answer to a malformed command, which is answered and never applied."""
    audited: bool = False
    """A command that is not a read-only query: its answer goes to the audit stream."""
    user_id: str = ""
    """Who asked: the answer carries it, so the gateway matches it by (user, order id)."""


def decode_command(payload: bytes, assets: Mapping[str, int]) -> Decoded:
    try:
        message = commands_pb2.Command.FromString(payload)
    except DecodeError:
        log.error("dropping an undecodable command (%d bytes)", len(payload))
        return Decoded()
    audited = message.WhichOneof("body") not in QUERIES
    try:
        command = command_from_proto(message, assets)
    except MalformedCommand as exc:
        log.warning("rejecting malformed command %s: %s", message.order_id, exc)
        result = rejection_to_proto(message.order_id, "INVALID_ARGUMENT", str(exc))
        return Decoded(
            reply_to=message.reply_to, rejection=result, audited=audited, user_id=message.user_id
        )
    return Decoded(command, reply_to=message.reply_to, audited=audited, user_id=message.user_id)


def decode_prices(payload: bytes, assets: Mapping[str, int]) -> Decoded:
    try:
        batch = prices_pb2.PriceBatch.FromString(payload)
    except DecodeError:
        log.error("dropping an undecodable price batch (%d bytes)", len(payload))
        return Decoded()
    return Decoded(ticks=ticks_from_proto(batch, assets))


def apply(
    engine: Engine, decoded: Decoded, assets: Mapping[str, int], *, answer: bool = True
) -> Applied:
    """`answer=False` during replay: nobody waits for those answers, so none are built."""
    before = engine.seq
    command = decoded.command
    if command is not None:
        outcome = engine.execute(command)
        response = outcome.response
        result = result_to_proto(response, assets) if answer and response else None
        data = response.data if response else None
        return Applied(engine.seq != before, decoded.reply_to, result, outcome.events, data)
    if decoded.ticks is not None:
        events: list[TradeEvent] = []
        for tick in decoded.ticks:
            events.extend(engine.apply_tick(tick))
        return Applied(changed=engine.seq != before, events=events)
    return Applied(changed=False, reply_to=decoded.reply_to, result=decoded.rejection)


def apply_command(
    engine: Engine, payload: bytes, assets: Mapping[str, int], *, answer: bool = True
) -> Applied:
    return apply(engine, decode_command(payload, assets), assets, answer=answer)


def apply_prices(engine: Engine, payload: bytes, assets: Mapping[str, int]) -> Applied:
    return apply(engine, decode_prices(payload, assets), assets)
