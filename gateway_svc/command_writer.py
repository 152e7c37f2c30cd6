"""Sends the engine its commands: one XADD each, batched with the other commands of the moment.

Under load, many requests reach the engine client within one turn of the event loop. An XADD
each costs a round trip, and most of the gateway's time went into that; through redis-py it
also cost about 100 µs of Python a command. The writer hands its XADDs, packed by hand, to a
`RespPipeline`: commands that arrive while a batch is out leave together in the next, so a
lone command still leaves at once and a busy gateway sends many to a round trip, in the order
they were handed over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mesh import streams
from mesh.resp import bulk
from mesh.resp_pipeline import RespPipeline, Wanted

Written = Callable[[BaseException | None], None]
"""Told the outcome of one command's XADD: None once Redis has it, else the error."""


class WriterStopped(ConnectionError):
    """The writer is stopping (or stopped): the command was not sent."""


class CommandWriter:
    def __init__(self, pipeline: RespPipeline, stream: str = streams.COMMANDS) -> None:
        self._pipeline = pipeline
        # The 8-part XADD up to its last part, the payload, packed once.
        head = ("XADD", stream, "MAXLEN", "~", str(streams.MAXLEN_COMMANDS), "*")
        self._head = b"*8\r\n" + b"".join(bulk(part.encode()) for part in head)
        self._head += bulk(streams.PAYLOAD)
        self._stopping = False

    def send(self, payload: bytes, written: Written, wanted: Wanted | None = None) -> None:
        """Queue one serialized command; `written` hears how its XADD went. One no longer
        `wanted` when its batch leaves (its caller was told it could not be sent) is dropped."""
        if self._stopping:
            written(WriterStopped("gateway is stopping"))
            return
        packed = self._head + bulk(payload)
        self._pipeline.submit(packed, lambda reply: written(_error(reply)), wanted)

    def stop(self) -> None:
        """Refuse what comes from now on; what was handed over is the pipeline's to finish."""
        self._stopping = True


def _error(reply: Any) -> BaseException | None:
    return reply if isinstance(reply, BaseException) else None
