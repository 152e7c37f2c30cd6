"""What one batch sends: answers, audit records, events and acknowledgements, packed as one
MULTI/EXEC transaction, so that none of them is published without the others.

Each answer goes to its asker's own stream (`streams.response_stream(reply_to)`). Every
answer to a state-changing command also goes, as an `exchange.v1.CommandAudit`, to
`streams.AUDIT`. The record is written in protobuf's wire format around bytes already at
hand (the command as received, the answer as serialized), so nothing is parsed or
serialized twice.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from engine_svc.service.wire import varint
from mesh import streams
from mesh.resp import bulk, pack

_MULTI = pack("MULTI")
_EXEC = pack("EXEC")


def _xadd_prefix(stream: str, maxlen: int, arguments: int = 8) -> bytes:
    """`XADD <stream> MAXLEN ~ <maxlen> * p` without the payload's bulk string (and, with
    `arguments=10`, without the asker field and value that follow it)."""
    head = pack("XADD", stream, "MAXLEN", "~", maxlen, "*", streams.PAYLOAD)
    return b"*%d" % arguments + head[2:]  # the payload (and more) follow


_ASKER_FIELD = bulk(streams.ASKER)


_AUDIT_PREFIX = _xadd_prefix(streams.AUDIT, streams.MAXLEN_AUDIT)
_EVENT_PREFIX = _xadd_prefix(streams.EVENTS, streams.MAXLEN_EVENTS)
_ANSWER_STREAMS: dict[str, tuple[bytes, bytes]] = {}
_ANSWER_STREAMS_MAX = 10_000


def _answer_stream(reply_to: str) -> tuple[bytes, bytes]:
    """The XADD prefix of `reply_to`'s answers, and the EXPIRE that gives its stream its time
    to live (streams.RESPONSES_TTL_S) again after each batch that writes to it."""
    packed = _ANSWER_STREAMS.get(reply_to)
    if packed is None:
        if len(_ANSWER_STREAMS) >= _ANSWER_STREAMS_MAX:
            _ANSWER_STREAMS.clear()  # instance names come and go; keep the cache bounded
        stream = streams.response_stream(reply_to)
        packed = (
            _xadd_prefix(stream, streams.MAXLEN_RESPONSES, arguments=10),
            pack("EXPIRE", stream, streams.RESPONSES_TTL_S),
        )
        _ANSWER_STREAMS[reply_to] = packed
    return packed


def audit_record(command: bytes, result: bytes, tail: bytes) -> bytes:
    """CommandAudit: field 1 the command, field 2 the result, then `audit_tail`'s fields."""
    return b"\x0a%b%b\x12%b%b%b" % (
        varint(len(command)),
        command,
        varint(len(result)),
        result,
        tail,
    )


def audit_tail(answered_at_ms: int, engine_latency_us: int) -> bytes:
    """CommandAudit fields 3 (answered_at_ms) and 4 (engine_latency_us)."""
    return b"\x18%b\x20%b" % (varint(answered_at_ms), varint(max(0, engine_latency_us)))


class Outbox:
    """Collects one batch's outputs; `packed` builds the transaction."""

    __slots__ = ("acks", "answers", "audits", "events")

    def __init__(self) -> None:
        self.answers: list[tuple[str, str, bytes]] = []
        """(the asking gateway instance, the asking user, the result's bytes)."""
        self.audits: list[tuple[bytes, bytes, int]] = []
        """(command as received, result bytes, when the command was read, ns)."""
        self.events: list[bytes] = []
        self.acks: dict[str, list[bytes]] = {}

    def extend(self, other: Outbox) -> None:
        """Add a later batch's outputs after this one's."""
        self.answers.extend(other.answers)
        self.audits.extend(other.audits)
        self.events.extend(other.events)
        for stream, ids in other.acks.items():
            self.acks.setdefault(stream, []).extend(ids)

    def __len__(self) -> int:
        return len(self.answers) + len(self.audits) + len(self.events) + len(self.acks)

    def packed(self, now_ms: int, now_ns: int) -> tuple[bytes, int]:
        """The transaction as RESP, and how many replies it will get (MULTI's, one QUEUED
        per command, EXEC's)."""
        parts = [_MULTI]
        expires: dict[str, bytes] = {}
        for reply_to, user_id, result in self.answers:
            prefix, expires[reply_to] = _answer_stream(reply_to)
            parts.append(prefix)
            parts.append(bulk(result))
            parts.append(_ASKER_FIELD)
            parts.append(bulk(user_id.encode()))
        parts.extend(expires.values())
        tails: dict[int, bytes] = {}  # commands read together share their latency
        for command, result, read_ns in self.audits:
            tail = tails.get(read_ns)
            if tail is None:
                tail = tails[read_ns] = audit_tail(now_ms, (now_ns - read_ns) // 1000)
            parts.append(_AUDIT_PREFIX)
            parts.append(bulk(audit_record(command, result, tail)))
        for event in self.events:
            parts.append(_EVENT_PREFIX)
            parts.append(bulk(event))
        for stream, ids in self.acks.items():
            if ids:
                group = streams.COMMAND_GROUP if stream == streams.COMMANDS else streams.PRICE_GROUP
                parts.append(pack("XACK", stream, group, *ids))
        parts.append(_EXEC)
        commands = len(parts) - 3 * len(self.answers) - len(self.audits) - len(self.events)
        return b"".join(parts), commands


def check_exec(replies: list[Any]) -> list[Any]:
    """EXEC's reply, raising if the transaction or one of its commands failed."""
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    result = replies[-1]
    if result is None:
        raise ResponseError("EXEC returned nil: the transaction was aborted")
    for reply in result:
        if isinstance(reply, ResponseError):
            raise reply
    return result
