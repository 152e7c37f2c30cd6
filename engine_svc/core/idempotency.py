"""The engine's memory of answered orders, so a retried command gets its first answer back.

Keyed by (user_id, order_id): two users cannot collide on an order id, nor read each other's
answers. Kept per user: each user's last `per_user` answers (ENGINE_IDEMPOTENCY_PER_USER), so
a user's own traffic beyond that forgets only that user's oldest answer, and no other user's
traffic can push a user's retry protection out (issue 14). Eviction is FIFO per user, so it is
deterministic and part of the state: snapshots keep the answers oldest first, and putting them
back in that order rebuilds every user's memory as it was. Answers are kept encoded (see
`codec`) and decoded only when a retry asks for one.

There is no global window any more (ENGINE_IDEMPOTENCY_WINDOW, 100,000, is retired). A global
cap and a per-user guarantee cannot both hold: whatever the cap evicts once it is full is some
user's protection, pushed out by others' traffic, which is the attack. So the bound is memory
that scales with accounts: at most `per_user` answers per user id, and user ids come from
signed-up users (the gateway authenticates every command), whose number issue 14 caps per
sign-up source, as the engine already bounds open positions and pending orders per user. The
cost is that memory and snapshots grow with the active users rather than staying at a fixed
window: about 250-400 bytes an answer, so a user that fills its 1,000 holds some 0.3 MB.

The storage is the C type `_native.AnswerTable` (native/answers.c), which the fast path also
reads and fills without calling Python. Nearly every command asks it about an order id it has
never seen, so it is built for the miss:
- an array of entries (user_id, order_id, encoded, hash), linked oldest first (iteration,
  whatever the per-process str hashes are), and per user a ring of the user's entry positions
  in the user's record (eviction of a user's oldest is O(1), its slot taken at once by the new
  answer, so no holes pile up);
- beside it, an open-addressing index of 8-byte slots, each packing part of the key's hash and
  an entry position. A miss compares hashes inside the index, usually within one cache line,
  and reads neither the entries nor the strs. Only a put also looks up the user's record (a
  second, smaller index of the same kind).
The dict of key tuples plus a deque of keys it replaced cost a key tuple, a dict entry and a
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
    """`OrderMemory(per_user)`; `per_user`, `users`, `held(user_id)`, `len()` and
    `key in memory` come from AnswerTable."""

    __slots__ = ()

    def recall(self, key: OrderKey) -> Response | None:
        encoded = self.get(key)
        return None if encoded is None else decode_response(key[0], key[1], encoded)

    def remember(self, key: OrderKey, response: Response) -> None:
        if self.per_user:  # no encoding for a memory that keeps nothing
            self.put(key, encode_response(response))

    def load(self, key: OrderKey, encoded: Sequence[Any]) -> None:
        """Remember an already encoded answer (from a snapshot)."""
        self.put(key, tuple(encoded))

    def responses(self) -> Iterator[tuple[OrderKey, Response]]:
        """Decoded, oldest first; `items()` gives the encoded answers (what snapshots keep)."""
        for key, encoded in self.items():
            yield key, decode_response(key[0], key[1], encoded)
