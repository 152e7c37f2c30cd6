"""Talks to the engine as a gateway instance does (SPEC section 5): commands XADDed onto
`backend-to-engine`, answers read from this client's own `engine_response:<instance>`.

For the bench's bulk work (the storm's 100,000 positions, closing what a load run left open),
not for measuring the engine: that is `engine_svc.bench.stream_bench`. Each round trip sends
as many new commands as answers came back plus one blocking XREAD, on the engine's own bare
RESP connection, so a Python client keeps hundreds of commands in flight.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from exchange.v1 import commands_pb2, responses_pb2, types_pb2
from redis.exceptions import ResponseError

from mesh import streams
from mesh.resp import RespConnection, bulk, pack

# XADD ... * p <payload>: everything but the payload, packed once (the array says 8 args).
_XADD = b"*8" + pack("XADD", streams.COMMANDS, "MAXLEN", "~", streams.MAXLEN_COMMANDS, "*", "p")[2:]


class EngineStreamClient:
    def __init__(self, redis_url: str) -> None:
        self.conn = RespConnection(redis_url)
        self.name = f"bench-{uuid.uuid4().hex[:12]}"
        self.stream = streams.response_stream(self.name)
        self.cursor = b"0"

    async def run_all(
        self,
        commands: Iterable[commands_pb2.Command],
        *,
        in_flight: int = 256,
        timeout_s: float = 120.0,
    ) -> list[responses_pb2.CommandResult]:
        """Send every command, at most `in_flight` unanswered at a time; answers in order."""
        queue = iter(commands)
        order: list[str] = []
        answers: dict[str, responses_pb2.CommandResult] = {}
        waiting: set[str] = set()
        deadline = time.monotonic() + timeout_s

        def more(count: int) -> list[bytes]:
            out = []
            for command in queue:
                command.reply_to = self.name
                command.ts_ms = int(time.time() * 1000)
                order.append(command.order_id)
                waiting.add(command.order_id)
                out.append(_XADD + bulk(command.SerializeToString()))
                if len(out) >= count:
                    break
            return out

        outgoing = more(in_flight)
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} commands unanswered after {timeout_s:.0f}s")
            read = pack(
                "XREAD", "COUNT", 10_000, "BLOCK", 1000, "STREAMS", self.stream, self.cursor
            )
            replies = await self.conn.call(b"".join(outgoing) + read, len(outgoing) + 1)
            for reply in replies[:-1]:
                if isinstance(reply, ResponseError):
                    raise reply
            for entry_id, fields in replies[-1][0][1] if replies[-1] else ():
                self.cursor = entry_id
                values = dict(zip(fields[::2], fields[1::2], strict=False))
                result = responses_pb2.CommandResult.FromString(values.get(streams.PAYLOAD, b""))
                if result.order_id in waiting:
                    waiting.discard(result.order_id)
                    answers[result.order_id] = result
            outgoing = more(in_flight - len(waiting))
        return [answers[order_id] for order_id in order]

    async def close(self) -> None:
        try:
            await self.conn.command("DEL", self.stream)
        finally:
            self.conn.close()


def command(user_id: str, email: str) -> commands_pb2.Command:
    return commands_pb2.Command(order_id=str(uuid.uuid4()), user_id=user_id, email=email)


def create_account(user_id: str, email: str) -> commands_pb2.Command:
    msg = command(user_id, email)
    msg.create_account.SetInParent()
    return msg


def create_trade(
    user_id: str, email: str, *, asset: str, margin_units: int, leverage: int
) -> commands_pb2.Command:
    """A LONG market order; `margin_units` is USD at scale 4, `leverage` 10..1000."""
    msg = command(user_id, email)
    trade = msg.create_trade
    trade.asset = asset
    trade.direction = types_pb2.DIRECTION_LONG
    trade.margin.units, trade.margin.scale = margin_units, 4
    trade.leverage = leverage
    return msg


def close_trade(user_id: str, email: str, trade_id: str) -> commands_pb2.Command:
    msg = command(user_id, email)
    msg.close_trade.trade_id = trade_id
    return msg


def get_open_trades(user_id: str, email: str) -> commands_pb2.Command:
    msg = command(user_id, email)
    msg.get_open_trades.SetInParent()
    return msg


def error_name(result: responses_pb2.CommandResult) -> str:
    """ "" for a success, else the ErrorCode's name."""
    if result.error_code == types_pb2.ERROR_CODE_UNSPECIFIED:
        return ""
    return types_pb2.ErrorCode.Name(result.error_code)


async def close_all(client: EngineStreamClient, user_id: str, email: str) -> int:
    """Close every open trade of one user (what a load run left behind); returns how many."""
    (listing,) = await client.run_all([get_open_trades(user_id, email)])
    trade_ids = [trade.trade_id for trade in listing.open_trades.trades]
    answers = await client.run_all(close_trade(user_id, email, tid) for tid in trade_ids)
    return sum(1 for answer in answers if not error_name(answer))
