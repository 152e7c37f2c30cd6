"""WebSocket limits: open sockets per client address and in total, and what a client may send.

Each socket holds two gRPC streams and a send queue, so sockets are the facade's costliest
resource; without a cap one client could open them until the process runs out of memory or
file descriptors. Close codes are RFC 6455's: 1008 policy violation (this client broke a
rule), 1009 message too big, 1013 try again later (the server as a whole is full).
"""

from __future__ import annotations

from dataclasses import dataclass

POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013


@dataclass(frozen=True)
class Refusal:
    code: int
    reason: str  # at most 123 bytes of UTF-8, the room a close frame has


class ConnectionSlots:
    """Counts open sockets per address; an address with none left is forgotten, so memory
    follows open sockets, at most `total` of them."""

    def __init__(self, per_ip: int, total: int) -> None:
        self.per_ip = per_ip
        self.total = total
        self._open: dict[str, int] = {}
        self._count = 0

    def claim(self, address: str) -> Refusal | None:
        """Take a slot for `address`, or say why not (and take nothing)."""
        if self._count >= self.total:
            return Refusal(TRY_AGAIN_LATER, "server is at its connection limit: try again later")
        if self._open.get(address, 0) >= self.per_ip:
            return Refusal(
                POLICY_VIOLATION, f"too many connections from your address (max {self.per_ip})"
            )
        self._open[address] = self._open.get(address, 0) + 1
        self._count += 1
        return None

    def release(self, address: str) -> None:
        left = self._open.get(address, 0) - 1
        if left < 0:
            return  # never claimed: nothing to give back
        self._count -= 1
        if left:
            self._open[address] = left
        else:
            del self._open[address]

    @property
    def open_count(self) -> int:
        return self._count


def message_too_big(size_limit: int) -> Refusal:
    return Refusal(MESSAGE_TOO_BIG, f"message too big: at most {size_limit} bytes")


def too_many_messages(per_s: int) -> Refusal:
    return Refusal(POLICY_VIOLATION, f"too many messages: at most {per_s} per second")


def utf8_size_over(text: str, limit: int) -> bool:
    """Whether `text` is more than `limit` bytes as UTF-8, without encoding a huge string
    (a character is at least one byte, at most four)."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit
