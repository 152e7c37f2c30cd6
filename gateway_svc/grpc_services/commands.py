"""One engine command, end to end: build it, send it, wait for the answer, and turn a
rejection into an `ApiError` carrying the order id.

Nothing is written on the request path: the engine publishes every answered state-changing
command on its audit stream, and the ledger process writes the `orders` rows from it (in
batches, and even when this gateway dies between the answer and its reply). Read-only queries
are not audited.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from exchange.v1 import commands_pb2, responses_pb2
from google.protobuf.message import Message

from gateway_svc.auth.tokens import Clock
from gateway_svc.errors import ApiError, spec_for
from gateway_svc.grpc_services.common import with_order_id
from gateway_svc.grpc_services.order_reuse import answers_another_command

log = logging.getLogger(__name__)


class Engine(Protocol):
    async def call(
        self, command: commands_pb2.Command, limited: bool = False
    ) -> responses_pb2.CommandResult: ...


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str


# The answers of state-changing commands: the engine remembers each by (user, order id).
_REMEMBERED = frozenset(
    {"account_created", "trade_opened", "trade_closed", "order_placed", "order_cancelled",
     "trade_modified"}
)  # fmt: skip


def expect(result: responses_pb2.CommandResult, field: str) -> Any:
    """The answer's `data`, which must be `field`.

    The engine gives a retry the first answer of its (user, order id) and changes nothing. So
    a state-changing command answered with another such command's answer was sent under an
    order id the client had used already: its mistake, refused as such (nothing changed).
    Anything else (a query's answer of the wrong kind, an answer with no data) is an engine /
    gateway mismatch."""
    answered = result.WhichOneof("data")
    if answered == field:
        return getattr(result, field)
    if field in _REMEMBERED and answered in _REMEMBERED:
        raise reused_order_id(result.order_id)
    log.warning("engine answered %s with %r, expected %s", result.order_id, answered, field)
    raise with_order_id(ApiError("INTERNAL"), result.order_id)


def reused_order_id(order_id: str) -> ApiError:
    """The client sent a new command under an order id it had used: refused, nothing changed."""
    reused = ApiError(
        "INVALID_ARGUMENT",
        "order_id was already used for another command; a retry repeats its command, and "
        "a new command needs an order id of its own",
        field="order_id",
    )
    return with_order_id(reused, order_id)


# An engine rejection whose field depends on the command, not only on its code (those that
# do not are in the error registry). INVALID_PRICE from PLACE_ORDER or MODIFY_TRADE is about
# the order's price: its wrong side, or removing it. (The engine's own checks on stop loss and
# take profit values answer INVALID_PRICE too, but the edge refuses those values first.)
_REJECTION_FIELDS = {
    ("place_order", "INVALID_PRICE"): "price",
    ("modify_trade", "INVALID_PRICE"): "price",
}


class CommandRunner:
    def __init__(self, engine: Engine, clock: Clock = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def run(
        self,
        caller: Caller,
        order_id: str,
        body_field: str,
        body: Message | None = None,
        *,
        limited: bool = False,
    ) -> responses_pb2.CommandResult:
        """The engine's successful answer; a rejection or failure raises `ApiError` with
        `order_id` attached. A client that hangs up cancels only its wait: the command,
        once handed to the writer, is sent and answered all the same. `limited`: the command
        spends a token of the caller's command rate limit in its own XADD (RATE_LIMITED: it
        was not sent)."""
        command = commands_pb2.Command(
            order_id=order_id,
            user_id=caller.user_id,
            email=caller.email,
            ts_ms=int(self._clock() * 1000),
        )
        if body is None:
            getattr(command, body_field).SetInParent()
        else:
            getattr(command, body_field).CopyFrom(body)
        try:
            result = await self._engine.call(command, limited)
        except ApiError as error:
            raise with_order_id(error, order_id) from None
        if result.error_code:
            spec = spec_for(result.error_code)
            field = _REJECTION_FIELDS.get((body_field, spec.name))
            rejection = ApiError(spec.name, result.message or None, field)
            raise with_order_id(rejection, order_id)
        if body is not None and answers_another_command(body_field, body, result):
            raise reused_order_id(order_id)
        return result
