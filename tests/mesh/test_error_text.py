"""Log lines name what went wrong even when the message is empty or runs on."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError

from mesh.error_text import describe


def test_an_empty_message_still_names_the_error() -> None:
    assert describe(RedisConnectionError()) == "ConnectionError"
    assert describe(TimeoutError()) == "TimeoutError"


def test_the_first_line_of_a_long_message() -> None:
    error = ValueError("column missing\n[SQL: INSERT ...]\n(Background: https://...)")
    assert describe(error) == "ValueError: column missing"
