"""A bare Redis connection for the hot paths (the engine's loop, the gateway's commands and
answers): commands packed as RESP by hand, replies parsed by hiredis into plain lists and bytes.

redis-py packs every argument and runs a Python callback over every reply (an XREADGROUP
reply becomes one dict per entry); at tens of thousands of commands a second that was most of
the engine's time, and about 90 µs of CPU per command in the gateway (a PING: 120 µs through
redis-py, 30 µs through a bare stream). Here a batch of commands is one `bytes` written once,
and the replies are taken from hiredis's buffer without an await per reply. Errors are
redis-py's exception types, so `streams.REDIS_ERRORS` and `retry_forever` treat them as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis.connection import parse_url
from redis.exceptions import AuthenticationError, BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

READ_CHUNK = 1 << 18
BLOCK_GRACE_S = 5.0  # how long past its BLOCK a read may take before its socket is given up


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack(*args: bytes | str | int) -> bytes:
    """One command as RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


# Error replies that mean "this server cannot serve you right now", raised as redis-py's
# ConnectionError kinds so every caller backs off and reconnects, as it would through redis-py.
_UNAVAILABLE: dict[str, type[RedisConnectionError]] = {
    "LOADING": BusyLoadingError,
    "MASTERDOWN": RedisConnectionError,
    "NOAUTH": AuthenticationError,
    "WRONGPASS": AuthenticationError,
}
# What a redis-py client may carry that this connection does not do: refused, never dropped.
_UNSUPPORTED = ("ssl", "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs")
_PLAIN = ("Connection", "UnixDomainSocketConnection")


def options_of(client: Any) -> dict[str, Any]:
    """The address and credentials of a redis-py client, as `RespConnection` takes them."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "connection_class": pool.connection_class}
    keys = ("host", "port", "path", "db", "username", "password", "client_name")
    keys += ("connection_class",)
    return {key: kwargs[key] for key in keys if kwargs.get(key) is not None}


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    kind = options.pop("connection_class", None)
    if (kind is not None and kind.__name__ not in _PLAIN) or any(
        options.get(key) for key in _UNSUPPORTED
    ):
        raise ValueError("TLS to Redis (rediss://) is not supported: use redis:// or unix://")
    return options


def unavailable(reply: ResponseError) -> RedisConnectionError | None:
    """The ConnectionError an error reply stands for (LOADING after a restart, NOAUTH...)."""
    kind = _UNAVAILABLE.get(str(reply).split(" ", 1)[0])
    return kind(str(reply)) if kind is not None else None


class RespConnection:
    """One connection; `call` sends packed commands and returns their replies in order.

    Not shared between tasks: each caller owns one. Any failure closes it; the next call
    connects again (AUTH and SELECT as the URL says). TLS is refused when the connection is
    made, not silently dropped.
    """

    def __init__(self, address: str | dict[str, Any]) -> None:
        """`address`: a redis:// or unix:// URL, or `options_of(a redis-py client)`."""
        self._options = _checked(parse_url(address) if isinstance(address, str) else dict(address))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader(replyError=ResponseError)

    async def _connect(self) -> None:
        options = self._options
        try:
            if "path" in options:
                reader, writer = await asyncio.open_unix_connection(options["path"])
            else:
                reader, writer = await asyncio.open_connection(
                    options.get("host", "localhost"), options.get("port", 6379)
                )
        except OSError as exc:
            raise RedisConnectionError(f"connecting to redis: {exc}") from exc
        self._reader, self._writer = reader, writer
        self._parser = hiredis.Reader(replyError=ResponseError)
        setup = []
        if options.get("password"):
            user = options.get("username")
            setup.append(
                pack("AUTH", user, options["password"])
                if user
                else pack("AUTH", options["password"])
            )
        if options.get("db"):
            setup.append(pack("SELECT", options["db"]))
        if options.get("client_name"):  # so CLIENT LIST says whose connection this is
            setup.append(pack("CLIENT", "SETNAME", options["client_name"]))
        if setup:
            try:
                for reply in await self._exchange(b"".join(setup), len(setup)):
                    if isinstance(reply, ResponseError):
                        # Never left open: the next call would run as the default user on db 0.
                        raise AuthenticationError(f"redis refused the connection's setup: {reply}")
            except BaseException:
                self.close()
                raise

    async def call(self, packed: bytes, replies: int) -> list[Any]:
        """Send `packed` (holding `replies` commands) and read their replies. An error reply
        comes back as a ResponseError value in its place, not raised, unless it says the server
        cannot serve (LOADING, NOAUTH...): that is raised as a ConnectionError."""
        if self._writer is None or self._writer.is_closing():
            self.close()
            await self._connect()
        out = await self._exchange(packed, replies)
        for reply in out:
            if isinstance(reply, ResponseError) and (error := unavailable(reply)) is not None:
                self.close()
                raise error
        return out

    async def _exchange(self, packed: bytes, replies: int) -> list[Any]:
        reader, writer, parser = self._reader, self._writer, self._parser
        assert reader is not None and writer is not None
        try:
            writer.write(packed)
            out: list[Any] = []
            while len(out) < replies:
                reply = parser.gets()
                if reply is False:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        raise RedisConnectionError("redis closed the connection")
                    parser.feed(data)
                    continue
                out.append(reply)
            return out
        except hiredis.ProtocolError as exc:
            self.close()
            raise RedisConnectionError(f"redis protocol error: {exc}") from exc
        except (OSError, RuntimeError) as exc:  # uvloop: RuntimeError writing to a reset socket
            self.close()
            raise RedisConnectionError(f"redis connection failed: {exc!r}") from exc
        except BaseException:
            # A cancelled or failed call leaves replies in flight: never reuse the socket.
            self.close()
            raise

    async def blocking(self, block_ms: int | None, *args: bytes | str | int) -> Any:
        """A command that blocks up to `block_ms` (None: not at all), e.g. XREAD BLOCK. A
        half-open socket answers nothing, so a read past its block and `BLOCK_GRACE_S` is given
        up: TimeoutError (an OSError, so callers back off as for any outage), socket closed."""
        async with asyncio.timeout((block_ms or 0) / 1000 + BLOCK_GRACE_S):
            return await self.command(*args)

    async def command(self, *args: bytes | str | int) -> Any:
        """One command; an error reply is raised."""
        (reply,) = await self.call(pack(*args), 1)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
