"""Applying one stream entry to the core: the same code path live and during replay."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from exchange.v1 import commands_pb2, prices_pb2, responses_pb2
from google.protobuf.message import DecodeError

from engine_svc.core.engine import Engine
from engine_svc.core.types import TradeEvent
from engine_svc.service.convert import (
    MalformedCommand,
    command_from_proto,
    rejection_to_proto,
    result_to_proto,
    ticks_from_proto,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Applied:
    """What one entry did: whether state changed (so it must be journaled), and its outputs."""

    changed: bool
    reply_to: str = ""
    result: responses_pb2.CommandResult | None = None
    events: list[TradeEvent] = field(default_factory=list)


def apply_command(
    engine: Engine, payload: bytes, assets: Mapping[str, int], *, answer: bool = True
) -> Applied:
    """`answer=False` during replay: nobody waits for those answers, so none are built."""
    try:
        message = commands_pb2.Command.FromString(payload)
    except DecodeError:
        log.error("dropping an undecodable command (%d bytes)", len(payload))
        return Applied(changed=False)
    try:
        command = command_from_proto(message, assets)
    except MalformedCommand as exc:
        log.warning("rejecting malformed command %s: %s", message.order_id, exc)
        result = rejection_to_proto(message.order_id, "INVALID_ARGUMENT", str(exc))
        return Applied(changed=False, reply_to=message.reply_to, result=result)
    before = engine.seq
    outcome = engine.execute(command)
    result = result_to_proto(outcome.response, assets) if answer and outcome.response else None
    return Applied(
        changed=engine.seq != before,
        reply_to=message.reply_to,
        result=result,
        events=outcome.events,
    )


def apply_prices(engine: Engine, payload: bytes, assets: Mapping[str, int]) -> Applied:
    try:
        batch = prices_pb2.PriceBatch.FromString(payload)
    except DecodeError:
        log.error("dropping an undecodable price batch (%d bytes)", len(payload))
        return Applied(changed=False)
    before = engine.seq
    events: list[TradeEvent] = []
    for tick in ticks_from_proto(batch, assets):
        events.extend(engine.apply_tick(tick))
    return Applied(changed=engine.seq != before, events=events)
