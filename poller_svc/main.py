"""The poller service: price source -> queue -> publisher -> `engine_input`.

SIGTERM / SIGINT (or the `stop` event) close the feed, publish whatever is still queued and
return 0.
"""

from __future__ import annotations

import asyncio
import logging

from mesh import logs
from mesh.config import Settings, load_settings, required
from mesh.signals import stop_event_on_signals
from mesh.streams import PRICES, connect
from poller_svc.publisher import Publisher
from poller_svc.resume import last_mids
from poller_svc.sources import Source, Tick, open_source
from poller_svc.sources.simulator import SimulatorSource

log = logging.getLogger("poller_svc")

# Room for minutes of ticks while Redis is away; beyond that the source waits (backpressure)
# instead of memory growing without bound.
QUEUE_MAX = 100_000
# Below the supervisor's 20 s grace, so an unreachable Redis cannot turn a stop into a kill.
FLUSH_TIMEOUT_S = 15.0


async def _feed(source: Source, queue: asyncio.Queue[Tick]) -> None:
    ticks = aiter(source)
    try:
        async for tick in ticks:
            await queue.put(tick)
    finally:
        # The generator may be parked at a yield (we were blocked on put): close it now so a
        # WebSocket does not stay open until garbage collection.
        await ticks.aclose()


async def run(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Runs until `stop` is set (by default: SIGTERM / SIGINT). Returns the exit code."""
    (redis_url,) = required("poller", REDIS_URL=settings.redis_url)
    source = open_source(settings)
    if stop is None:
        stop = stop_event_on_signals()
    client = connect(redis_url)
    if isinstance(source, SimulatorSource):
        source.start_from(await last_mids(client, settings.poller_assets))
        if source.starts:
            log.info("poller: the simulator goes on from the last prices published")
    queue: asyncio.Queue[Tick] = asyncio.Queue(maxsize=QUEUE_MAX)
    publisher = Publisher(client, queue, source.name)
    feeder = asyncio.create_task(_feed(source, queue), name="poller-feed")
    publishing = asyncio.create_task(publisher.run(), name="poller-publish")
    stopping = asyncio.create_task(stop.wait(), name="poller-stop")
    log.info(
        "poller: %s prices for %s -> %s every %d ms",
        settings.poller_source,
        ",".join(settings.poller_assets),
        PRICES,
        settings.poller_update_interval_ms,
    )
    exit_code = 0
    try:
        pending: set[asyncio.Task[object]] = {feeder, publishing, stopping}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                log.info("poller: stopping; closing the feed")
                break
            if publishing in done:
                log.error("poller: publisher failed", exc_info=publishing.exception())
                exit_code = 1
                break
            if feeder in done:
                if feeder.exception() is not None:
                    log.error("poller: price source failed", exc_info=feeder.exception())
                    exit_code = 1
                    break
                log.warning("poller: price source ended; idling until stopped")
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        if not publishing.done():
            try:
                await asyncio.wait_for(queue.join(), FLUSH_TIMEOUT_S)
            except TimeoutError:
                log.error(
                    "poller: %d ticks were not published before the stop deadline", queue.qsize()
                )
                exit_code = 1
        publishing.cancel()
        stopping.cancel()
        await asyncio.gather(publishing, stopping, return_exceptions=True)
        await client.aclose()
    log.info(
        "poller: stopped after publishing %d ticks in %d batches",
        publisher.ticks_published,
        publisher.batches_published,
    )
    return exit_code


def main() -> int:
    """Entry point for `exchange poller`."""
    logs.setup("poller")
    settings = load_settings(need_secrets=False)
    return asyncio.run(run(settings))


if __name__ == "__main__":
    raise SystemExit(main())
