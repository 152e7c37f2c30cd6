"""Multi-row writes as one small statement: INSERT ... SELECT FROM unnest(one array a column).

SQLAlchemy's executemany of a VALUES list sends a statement with a placeholder per value, which
psycopg re-parses on every call (for a thousand trade rows, 22,000 placeholders: most of the
write's CPU). With one array parameter per column the statement text never changes, each array
travels in psycopg's binary format (three times cheaper to build than its text form here), and
Postgres still inserts all rows in one statement, so ON CONFLICT and RETURNING behave exactly
as for a VALUES list. Measured on 1,000-event batches: 65 us an event through SQLAlchemy's
VALUES path, 23 us this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Table, exc
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class UnnestInsert:
    """`INSERT INTO table (columns) SELECT * FROM unnest(%(column)b::TYPE[], ...) <tail>`."""

    columns: tuple[str, ...]
    sql: str

    @classmethod
    def of(cls, table: Table, columns: Sequence[str], tail: str = "") -> UnnestInsert:
        """`tail` is the ON CONFLICT / RETURNING part, in plain SQL."""
        arrays = ", ".join(
            f"CAST(%({name})b AS {table.c[name].type.compile(dialect=_DIALECT)}[])"
            for name in columns
        )
        names = ", ".join(quoted(name) for name in columns)
        sql = f"INSERT INTO {quoted(table.name)} ({names}) SELECT * FROM unnest({arrays}) {tail}"
        return cls(tuple(columns), sql)

    async def execute(
        self, conn: psycopg.AsyncConnection, rows: Sequence[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert `rows` (dicts holding every column) in the transaction `conn` is in; returns
        the RETURNING rows (empty without RETURNING)."""
        params = {name: [row[name] for row in rows] for name in self.columns}
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(self.sql, params)
                return list(await cursor.fetchall()) if cursor.description else []
        except psycopg.Error as error:
            # As SQLAlchemy would raise it (DataError, IntegrityError, OperationalError...), so
            # callers tell refused rows from outages the one way; a thousand-row array is no
            # use in a log line, so the parameters stay out of the message.
            raise exc.DBAPIError.instance(
                self.sql, None, error, psycopg.Error, hide_parameters=True
            ) from error
