"""Between two parts of the bench, the exchange at rest: every consumer group of its streams
has read and acknowledged every entry.

A part that outruns a reader leaves it a backlog. The engine part does so by design: it runs
with the ledger paused, so when it ends the ledger owes Postgres an audit row and an event
row for each of the part's tens of thousands of commands. Measured while it catches up, the
next part shares the two cores with it: the open loop's p99 at 1,000/s read 515 ms right
after the engine part, 51 ms on an exchange at rest. A ledger acknowledges an entry only
after its rows are committed, so "every group has acked everything" means everything the
last part caused is in Postgres.
"""

from __future__ import annotations

import time

import redis

from mesh import streams

STREAMS = (streams.COMMANDS, streams.PRICES, streams.EVENTS, streams.AUDIT)
POLL_S = 0.1


def behind(client: redis.Redis) -> list[str]:
    """The groups with entries not yet delivered or not yet acknowledged, described."""
    late = []
    for stream in STREAMS:
        try:
            newest = streams.text(client.xinfo_stream(stream)["last-generated-id"])
            groups = client.xinfo_groups(stream)
        except redis.ResponseError:  # no such stream yet: nobody owes it anything
            continue
        for group in groups:
            delivered = streams.text(group["last-delivered-id"])
            pending = int(group["pending"])
            if delivered != newest or pending:
                late.append(f"{stream}/{streams.text(group['name'])}: {pending} pending")
    return late


def wait_caught_up(redis_url: str, timeout_s: float) -> tuple[float, list[str]]:
    """Seconds until no group is behind (or `timeout_s`), and who still was at the end."""
    client = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    try:
        while (late := behind(client)) and time.monotonic() - started < timeout_s:
            time.sleep(POLL_S)
        return time.monotonic() - started, late
    finally:
        client.close()
