"""The engine's memory of answered orders, so a retried command gets its first answer back.

Keyed by (user_id, order_id): two users cannot collide on an order id, nor read each other's
answers. Bounded: past `window` entries the oldest is forgotten (FIFO, so deterministic and
part of the state). Answers are kept encoded (see `codec`) and decoded only when a retry asks
for one.

The storage is the C type `_native.AnswerTable` (native/answers.c), which the fast path also
reads and fills without calling Python. It holds up to a million answers, and nearly every
command asks it about an order id it has never seen, so it is built for the miss:
- a ring of entries (user_id, order_id, encoded, hash), oldest first: eviction is O(1) and
  iteration follows insertion, whatever the per-process str hashes are;
- beside it, an open-addressing index of 8-byte slots, each packing part of the key's hash and
  a ring position. A miss compares hashes inside the index, usually within one cache line,
  and reads neither the ring nor the strs.
The dict of key tuples plus a deque of keys it replaces cost a key tuple, a dict entry and a
deque slot per answer, and its big lookups were cache misses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from engine_svc.core._native import AnswerTable
from engine_svc.core.codec import decode_response, encode_response
from engine_svc.core.types import Response

OrderKey = tuple[str, str]


class OrderMemory(AnswerTable):
    """`OrderMemory(window)`; `window`, `len()` and `key in memory` come from AnswerTable."""

    __slots__ = ()

    def recall(self, key: OrderKey) -> Response | None:
        encoded = self.get(key)
        return None if encoded is None else decode_response(key[0], key[1], encoded)

    def remember(self, key: OrderKey, response: Response) -> None:
        if self.window:  # no encoding for a memory that keeps nothing
            self.put(key, encode_response(response))

    def load(self, key: OrderKey, encoded: Sequence[Any]) -> None:
        """Remember an already encoded answer (from a snapshot)."""
        self.put(key, tuple(encoded))

    def responses(self) -> Iterator[tuple[OrderKey, Response]]:
        """Decoded, oldest first; `items()` gives the encoded answers (what snapshots keep)."""
        for key, encoded in self.items():
            yield key, decode_response(key[0], key[1], encoded)
