"""The revoked sessions, held in memory by every gateway process and kept current through Redis.

Checking a token then costs two dict lookups, not a database round trip. Postgres keeps the
durable copy; `streams.REVOCATIONS` carries each new sign-out to every process. At start the
end of the stream is noted first, then Postgres is read, then the stream is followed from the
noted id: a sign-out that lands in between is seen twice (harmless), never missed.

While the stream cannot be read (Redis away) the known revocations keep being refused; the
reader (StreamTail) logs the outage and resumes from the last id it handled.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as aioredis
from exchange.v1 import sessions_pb2
from google.protobuf.message import DecodeError

from gateway_svc.auth.tokens import Clock
from gateway_svc.engine_client import Fields, StreamTail, last_entry_id
from mesh import streams

log = logging.getLogger(__name__)

# Forgotten entries are swept at most this often (they are refused by expiry anyway).
SWEEP_EVERY_S = 60.0


class RevocationStore(Protocol):
    async def current_revocations(
        self,
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]]]: ...


class RevocationsUnavailable(ConnectionError):
    """The durable copy could not be read: the reader retries as after a Redis error."""


class Revocations:
    def __init__(
        self, redis: aioredis.Redis, store: RevocationStore, clock: Clock = time.time
    ) -> None:
        self._redis = redis
        self._store = store
        self._clock = clock
        self._sessions: dict[str, int] = {}  # jti -> expires_at_ms
        self._cutoffs: dict[str, tuple[int, int]] = {}  # user -> (issued_before_ms, expires)
        self._next_sweep = 0.0
        self.loaded = False
        self._tail = StreamTail(
            redis, streams.REVOCATIONS, self._on_entry, name="revocations", start_at=self._load
        )

    async def start(self) -> None:
        await self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()

    def is_revoked(self, jti: str, user_id: str, issued_at_ms: int) -> bool:
        if jti in self._sessions:
            return True
        cutoff = self._cutoffs.get(user_id)
        return cutoff is not None and issued_at_ms <= cutoff[0]

    def add(self, revocation: sessions_pb2.SessionRevocation) -> None:
        if revocation.jti:
            self._sessions[revocation.jti] = revocation.expires_at_ms
        elif revocation.user_id:
            before, expires = self._cutoffs.get(revocation.user_id, (0, 0))
            self._cutoffs[revocation.user_id] = (
                max(before, revocation.issued_before_ms),
                max(expires, revocation.expires_at_ms),
            )
        self._sweep()

    def __len__(self) -> int:
        return len(self._sessions) + len(self._cutoffs)

    async def _load(self) -> bytes:
        """The reader's first cursor: the stream's end, noted before Postgres is read."""
        cursor = await last_entry_id(self._redis, streams.REVOCATIONS)
        try:
            sessions, cutoffs = await self._store.current_revocations()
        except Exception as exc:
            raise RevocationsUnavailable(f"cannot load revocations from postgres: {exc}") from exc
        self._sessions.update(sessions)
        for user_id, before, expires in cutoffs:
            self.add(
                sessions_pb2.SessionRevocation(
                    user_id=user_id, issued_before_ms=before, expires_at_ms=expires
                )
            )
        self.loaded = True
        log.info("revocations: %d sessions and %d users loaded", len(sessions), len(cutoffs))
        return cursor

    def _on_entry(self, entry_id: bytes, fields: Fields) -> None:
        try:
            revocation = sessions_pb2.SessionRevocation.FromString(fields[streams.PAYLOAD])
        except (KeyError, DecodeError):
            log.warning("revocations: entry %s is not a SessionRevocation", entry_id)
            return
        self.add(revocation)

    def _sweep(self) -> None:
        """Drop what has expired: the tokens it refused are refused by their own expiry now."""
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY_S
        now_ms = int(now * 1000)
        for jti in [j for j, expires in self._sessions.items() if expires <= now_ms]:
            del self._sessions[jti]
        for user in [u for u, (_, expires) in self._cutoffs.items() if expires <= now_ms]:
            del self._cutoffs[user]
