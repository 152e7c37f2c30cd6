"""Backpack's public WebSocket: live best bid/ask from the `bookTicker.<SYMBOL>` streams.

Frames we do not recognise (subscription acks, errors, other streams) are skipped, never fatal.
A lost, refused or silent connection is retried with exponential backoff and seeded jitter,
and every new connection subscribes again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException
from websockets.uri import parse_uri

from mesh.assets import ASSET_DECIMALS
from mesh.config import redacted
from poller_svc.sources.tick import Tick

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://ws.backpack.exchange"
_PRICE = re.compile(r"\d+(\.\d+)?")


class StaleFeed(Exception):
    """The connection is open but nothing arrived for too long: treat it as lost."""


def subscribe_message(assets: tuple[str, ...]) -> str:
    return json.dumps(
        {"method": "SUBSCRIBE", "params": [f"bookTicker.{a}" for a in assets], "id": 1}
    )


class FrameParser:
    """Turns bookTicker frames into ticks in each asset's price scale.

    Backpack may quote more decimals than our grid. Rounding the bid down and the ask up keeps
    the spread from narrowing, so nobody can trade at a better price than the market showed.
    """

    def __init__(self, assets: tuple[str, ...]) -> None:
        self.assets = set(assets)
        self.rounding_reported: set[str] = set()

    def parse(self, frame: str | bytes) -> Tick | None:
        try:
            message = json.loads(frame)
        except ValueError:
            log.debug("backpack: ignoring a frame that is not JSON: %.200r", frame)
            return None
        if not isinstance(message, dict):
            log.debug("backpack: ignoring frame %.200r", frame)
            return None
        if message.get("error"):
            log.warning("backpack: error frame ignored: %.300s", frame)
            return None
        data = message.get("data")
        if not isinstance(data, dict) or data.get("e") != "bookTicker":
            log.debug("backpack: ignoring frame %.200r", frame)
            return None
        asset = data.get("s")
        ts_us = data.get("E")
        if asset not in self.assets or type(ts_us) is not int:
            log.debug("backpack: ignoring bookTicker frame %.200r", frame)
            return None
        scale = ASSET_DECIMALS[asset]
        bid = self._price(data.get("b"), scale, ROUND_FLOOR, asset)
        ask = self._price(data.get("a"), scale, ROUND_CEILING, asset)
        if bid is None or ask is None or bid <= 0 or bid > ask:
            log.warning("backpack: ignoring a bookTicker with an unusable bid/ask: %.200r", frame)
            return None
        return Tick(asset, bid, ask, ts_us)

    def _price(self, text: object, scale: int, rounding: str, asset: str) -> int | None:
        if not isinstance(text, str) or not _PRICE.fullmatch(text):
            return None
        scaled = Decimal(text).scaleb(scale)
        exact = scaled.to_integral_value()
        if scaled == exact:
            return int(exact)
        if asset not in self.rounding_reported:
            self.rounding_reported.add(asset)
            log.warning(
                "backpack: %s prices have more than %d decimals (%s); rounding outward "
                "(bid down, ask up). Logged once.",
                asset,
                scale,
                text,
            )
        return int(scaled.to_integral_value(rounding=rounding))


class BackpackSource:
    name = "backpack"

    def __init__(
        self,
        assets: tuple[str, ...],
        url: str = DEFAULT_URL,
        *,
        seed: int = 0,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        stale_after_s: float = 60.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        parse_uri(url)  # a malformed URL is a configuration error: fail at start, not in a loop
        self.assets = assets
        self.url = url
        self.seed = seed
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stale_after_s = stale_after_s
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.sleep = sleep

    def __aiter__(self) -> AsyncGenerator[Tick, None]:
        return self._ticks()

    def _backoff(self, attempt: int, rng: random.Random) -> float:
        delay = min(self.max_delay, self.first_delay * (1 << min(attempt - 1, 20)))
        # Jitter spreads reconnects out, so many pollers do not hit the server in step.
        return delay * (0.5 + rng.random() / 2)

    async def _ticks(self) -> AsyncGenerator[Tick, None]:
        parser = FrameParser(self.assets)
        rng = random.Random(self.seed)
        attempt = 0
        while True:
            try:
                log.info("backpack: connecting to %s", redacted(self.url))
                async with connect(
                    self.url,
                    open_timeout=10,
                    close_timeout=5,
                    # The server pings us (websockets answers by itself); our own pings find
                    # a dead connection that the server side has silently dropped.
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout,
                ) as ws:
                    await ws.send(subscribe_message(self.assets))
                    log.info("backpack: subscribed to bookTicker for %s", ",".join(self.assets))
                    while True:
                        try:
                            frame = await asyncio.wait_for(ws.recv(), self.stale_after_s)
                        except TimeoutError:
                            raise StaleFeed(f"no frame for {self.stale_after_s:.0f}s") from None
                        tick = parser.parse(frame)
                        if tick is None:
                            continue
                        attempt = 0  # only real data proves the connection works
                        yield tick
            except (WebSocketException, OSError, TimeoutError, StaleFeed) as exc:
                attempt += 1
                delay = self._backoff(attempt, rng)
                log.warning(
                    "backpack: connection lost or refused (%s: %s); reconnect attempt %d in %.1fs",
                    type(exc).__name__,
                    exc,
                    attempt,
                    delay,
                )
                await self.sleep(delay)
