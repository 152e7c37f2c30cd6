"""Each pytest-xdist worker gets its own Redis database on a shared server (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import worker_redis_url


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/0", None, "redis://127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", "master", "redis://127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", "gw0", "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379/0", "gw1", "redis://127.0.0.1:6379/2"),
        ("redis://:secret@10.0.0.5:6380/3", "gw2", "redis://:secret@10.0.0.5:6380/6"),
        ("redis://127.0.0.1:6379", "gw1", "redis://127.0.0.1:6379/2"),
        ("redis://127.0.0.1:6379/not-a-number", "gw0", "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379/0?db=3", "gw1", "redis://127.0.0.1:6379/0?db=5"),
        ("unix:///run/redis.sock?db=2", "gw1", "unix:///run/redis.sock?db=4"),
        ("unix:///run/redis.sock", "gw3", "unix:///run/redis.sock?db=4"),
    ],
)
def test_each_worker_takes_the_urls_database_plus_its_number_plus_one(
    url: str, worker: str | None, expected: str
) -> None:
    assert worker_redis_url(url, worker) == expected


def test_a_worker_past_the_servers_databases_is_told_to_run_fewer() -> None:
    with pytest.raises(pytest.UsageError, match="fewer workers"):
        worker_redis_url("redis://127.0.0.1:6379/10", "gw5")
    assert worker_redis_url("redis://127.0.0.1:6379/10", "gw4") == "redis://127.0.0.1:6379/15"
