"""uvicorn's httptools protocol with a bound on a request's head (its request line and
headers): httptools keeps an unfinished head in memory however long it grows, so one client
that never ends its headers held 20 MB of a worker per connection (the hostile-client audit:
six such connections took a worker from 131 to 248 MB). Past MAX_HEAD_BYTES the connection
gets 431 and is closed. Counted per read while a head is open, up to the blank line that ends
it: a body in the same read is the app's to bound (HTTP_MAX_BODY_BYTES, 413).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024


class BoundedHeadProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the previous read: an end split across two

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            end = (self._tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = data[-3:]
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_open, self._head_bytes, self._tail = False, 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True  # the next request on this connection, if any

    def _refuse_head(self) -> None:
        message = f"request headers are larger than {MAX_HEAD_BYTES} bytes"
        self.transport.write(
            STATUS_LINE[431]
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(message)
            + message.encode()
        )
        self.transport.close()
