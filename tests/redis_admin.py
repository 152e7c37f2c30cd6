"""What a test may do to a Redis server that other pytest workers share."""

from __future__ import annotations

import redis.asyncio as aioredis


async def kill_connections(redis_url: str) -> int:
    """Close every client connection on this URL's database but the caller's own, as a
    server restart would; the connections of other databases (another pytest worker's,
    tests/conftest.py) stay. The number closed."""
    admin = aioredis.Redis.from_url(redis_url)
    try:
        me = await admin.client_id()
        db = int(admin.connection_pool.connection_kwargs.get("db", 0))
        killed = 0
        for client in await admin.client_list(_type="normal"):
            if int(client["db"]) == db and int(client["id"]) != me:
                killed += await admin.client_kill_filter(_id=client["id"])
        return killed
    finally:
        await admin.aclose()
