"""Sends the engine its commands: one XADD each, batched with the other commands of the moment.

Under load, many requests reach the engine client within one turn of the event loop. An XADD
each costs a round trip, and most of the gateway's time went into that; through redis-py it
also cost about 100 µs of Python a command. The writer hands its XADDs, packed by hand, to a
`RespPipeline`: commands that arrive while a batch is out leave together in the next, so a
lone command still leaves at once and a busy gateway sends many to a round trip, in the order
they were handed over. A command under its user's rate limit goes as one script that takes the
token and adds the command (`SharedTokenBuckets.packed_take_then_add`): no round trip of its
own for the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway_svc.token_bucket import SharedTokenBuckets, is_noscript, wait_s
from mesh import streams
from mesh.resp import bulk
from mesh.resp_pipeline import RespPipeline, Wanted

Written = Callable[[BaseException | None], None]
"""Told the outcome of one command's XADD: None once Redis has it, else the error."""


class WriterStopped(ConnectionError):
    """The writer is stopping (or stopped): the command was not sent."""


class CommandWriter:
    def __init__(
        self,
        pipeline: RespPipeline,
        stream: str = streams.COMMANDS,
        limit: SharedTokenBuckets | None = None,
    ) -> None:
        """With `limit`, `send(..., limited=user)` spends a token of that user's bucket in the
        command's own round trip (one script: the token, then the XADD)."""
        self._pipeline = pipeline
        self._stream = stream
        self._limit = limit
        # The 8-part XADD up to its last part, the payload, packed once.
        head = ("XADD", stream, "MAXLEN", "~", str(streams.MAXLEN_COMMANDS), "*")
        self._head = b"*8\r\n" + b"".join(bulk(part.encode()) for part in head)
        self._head += bulk(streams.PAYLOAD)
        self._stopping = False

    def send(
        self,
        payload: bytes,
        written: Written,
        wanted: Wanted | None = None,
        limited: str | None = None,
    ) -> None:
        """Queue one serialized command; `written` hears how its XADD went (the limit's
        RATE_LIMITED `ApiError` when user `limited`'s rate limit refused it: it never reached
        the stream). One no longer `wanted` when its batch leaves (its caller was told it could
        not be sent) is dropped."""
        if self._stopping:
            written(WriterStopped("gateway is stopping"))
            return
        if limited is None:
            packed = self._head + bulk(payload)
            self._pipeline.submit(packed, lambda reply: written(_error(reply)), wanted)
            return
        limit, stream = self._limit, self._stream
        if limit is None:
            raise RuntimeError("a rate-limited command needs a writer that holds the limit")

        def packed_for(by_sha: bool) -> bytes:
            return limit.packed_take_then_add(
                limited, stream, streams.MAXLEN_COMMANDS, streams.PAYLOAD, payload, by_sha=by_sha
            )

        def answered(reply: Any) -> None:
            if is_noscript(reply):  # not run: sent again with the script, which Redis keeps
                self._pipeline.submit(packed_for(False), answered, wanted)
                return
            wait = 0.0 if isinstance(reply, BaseException) else wait_s(reply)
            written(limit.refusal(wait) if wait else _error(reply))

        self._pipeline.submit(packed_for(True), answered, wanted)

    def stop(self) -> None:
        """Refuse what comes from now on; what was handed over is the pipeline's to finish."""
        self._stopping = True


def _error(reply: Any) -> BaseException | None:
    return reply if isinstance(reply, BaseException) else None
