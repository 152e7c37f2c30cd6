"""One line that says what went wrong, for logs: an exception's class and its message's first
line. Bare `str(error)` is empty for many connection errors (a Redis that stopped answering
logged "redis unavailable ()"), and SQLAlchemy's runs on with the SQL and a docs link."""

from __future__ import annotations


def describe(error: BaseException) -> str:
    first = (str(error).splitlines() or [""])[0].strip()
    name = type(error).__name__
    return f"{name}: {first}" if first else name
