"""A test stand-in for a gateway: commands onto `backend-to-engine`, answers from its own
stream `engine_response:<name>`, over a real Redis."""

from __future__ import annotations

import redis
from exchange.v1 import commands_pb2, responses_pb2

from mesh import streams
from tests.polling import poll


class StreamClient:
    def __init__(self, redis_url: str, name: str = "test-gw") -> None:
        self.redis = redis.Redis.from_url(redis_url)
        self.name = name
        self.stream = streams.response_stream(name)
        self._cursor = b"0"
        self.answers: dict[str, responses_pb2.CommandResult] = {}

    @property
    def cursor(self) -> bytes:
        return self._cursor

    @cursor.setter
    def cursor(self, value: bytes) -> None:
        """`$` (only answers from now on) is fixed to the stream's newest entry now: XREAD
        would take it afresh at every poll and miss an answer published between two."""
        if value == b"$":
            newest = self.redis.xrevrange(self.stream, count=1)
            value = newest[0][0] if newest else b"0-0"
        self._cursor = value

    def send(self, command: commands_pb2.Command) -> str:
        command.reply_to = self.name
        self.redis.xadd(streams.COMMANDS, {streams.PAYLOAD: command.SerializeToString()})
        return command.order_id

    def send_prices(self, payload: bytes) -> None:
        self.redis.xadd(streams.PRICES, {streams.PAYLOAD: payload})

    def poll(self, block_ms: int = 100) -> int:
        reply = self.redis.xread({self.stream: self.cursor}, count=10_000, block=block_ms)
        got = 0
        for _, entries in reply or []:
            for entry_id, fields in entries:
                self.cursor = entry_id
                result = responses_pb2.CommandResult.FromString(fields[streams.PAYLOAD])
                self.answers.setdefault(result.order_id, result)
                got += 1
        return got

    def wait_for(
        self, order_ids: list[str], timeout_s: float = 20.0
    ) -> dict[str, responses_pb2.CommandResult]:

        def missing() -> list[str]:
            left = [o for o in order_ids if o not in self.answers]
            if left:
                self.poll()  # blocks up to 100 ms for more: no pause between asks
            return left

        poll(
            missing,
            lambda left: not left,
            timeout_s=timeout_s,
            every_s=0,
            what=f"answers to {len(order_ids)} commands",
        )
        return {o: self.answers[o] for o in order_ids}

    def call(
        self, command: commands_pb2.Command, timeout_s: float = 20.0
    ) -> responses_pb2.CommandResult:
        return self.wait_for([self.send(command)], timeout_s)[command.order_id]
