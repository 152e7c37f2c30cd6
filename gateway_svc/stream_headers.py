"""What the gRPC API's streams say in their response headers, known to the server that sends
them and to the REST facade that reads them (neither imports the other)."""

from __future__ import annotations

SUBSCRIBED = ("x-subscribed", "1")
"""StreamTradeEvents' headers: the stream is subscribed, every event after them reaches it. A
refused session ends the call with no headers, so with no such entry."""
