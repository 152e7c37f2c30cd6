"""The test servers are real and isolated."""

import psycopg
import redis


def test_redis_is_real_and_empty(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.xadd("smoke", {"p": b"x"})
    assert client.xlen("smoke") == 1


def test_database_is_fresh(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
