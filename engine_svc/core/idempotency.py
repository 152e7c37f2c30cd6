"""The engine's memory of answered orders, so a retried command gets its first answer back.

Keyed by (user_id, order_id): two users cannot collide on an order id, nor read each other's
answers. Bounded: past `window` entries the oldest is forgotten (FIFO, so deterministic and
part of the state). A deque keeps eviction O(1); popping the first key of a dict is not,
because CPython dicts leave a run of deleted slots at their front until they resize.
Answers are kept encoded (see `codec`) and decoded only when a retry asks for one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from engine_svc.core.codec import Encoded, decode_response, encode_response
from engine_svc.core.types import Response

OrderKey = tuple[str, str]


class OrderMemory:
    __slots__ = ("answers", "fifo", "window")

    def __init__(self, window: int) -> None:
        if window < 0:
            raise ValueError(f"idempotency window must be >= 0, got {window}")
        self.window = window
        self.answers: dict[OrderKey, Encoded] = {}
        """Read-only outside this class (the engine tests membership on it directly)."""
        self.fifo: deque[OrderKey] = deque()
        """Keys oldest first; read-only outside this class (the C path appends through it)."""

    def __len__(self) -> int:
        return len(self.fifo)

    def recall(self, key: OrderKey) -> Response | None:
        encoded = self.answers.get(key)
        return None if encoded is None else decode_response(key[0], key[1], encoded)

    def remember(self, key: OrderKey, response: Response) -> None:
        if self.window:
            self.answers[key] = encode_response(response)
            self._push(key)

    def load(self, key: OrderKey, encoded: Sequence[Any]) -> None:
        """Remember an already encoded answer (from a snapshot)."""
        if self.window:
            self.answers[key] = tuple(encoded)
            self._push(key)

    def _push(self, key: OrderKey) -> None:
        fifo = self.fifo
        fifo.append(key)
        if len(fifo) > self.window:
            del self.answers[fifo.popleft()]

    def encoded_items(self) -> Iterator[tuple[OrderKey, Encoded]]:
        """Oldest first: the order that eviction and a restored memory must follow."""
        answers = self.answers
        for key in self.fifo:
            yield key, answers[key]

    def items(self) -> Iterator[tuple[OrderKey, Response]]:
        for key, encoded in self.encoded_items():
            yield key, decode_response(key[0], key[1], encoded)
