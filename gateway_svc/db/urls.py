"""One spelling of the database URL for SQLAlchemy (and a libpq connection string), whatever
form the operator gave.

DATABASE_URL may be a libpq URL (`postgresql://user@host/db`, `postgres://...`, Unix sockets as
`?host=/dir`), a SQLAlchemy URL with another driver, or a libpq key=value string. SQLAlchemy
picks its driver from the URL scheme, so everything becomes `postgresql+psycopg://`.
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DRIVER = "postgresql+psycopg"


NOT_A_URL = (
    "not a PostgreSQL URL (postgresql://user:password@host:port/db) "
    "or libpq connection string (host=... dbname=...)"
)


def sqlalchemy_url(database_url: str) -> str:
    """The URL with the psycopg 3 driver; the password stays in (the caller needs it). A
    ValueError when it is none; its message never quotes the URL, whose password it may hold
    (the parsers' own messages would: a port that is no number, the word after a password
    with a space)."""
    raw = database_url.strip()
    if not raw:
        raise ValueError("database URL is empty")
    try:
        url = make_url(raw) if "://" in raw else _from_keyword_dsn(raw)
    except (ArgumentError, ValueError):
        raise ValueError(NOT_A_URL) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: scheme {url.drivername!r}")
    return url.set(drivername=DRIVER).render_as_string(hide_password=False)


def libpq_conninfo(database_url: str) -> str:
    """The same database as a libpq key=value string, for psycopg's own connections. Built
    from the parsed parts, not by rendering a URL: libpq would not decode the `+` a URL
    renders for a space (in `options=-c ...`, say, or a socket directory)."""
    url = make_url(sqlalchemy_url(database_url))
    query = {
        key: ",".join(value) if isinstance(value, tuple) else value  # libpq's host lists
        for key, value in url.query.items()
    }
    parts = {"user": url.username, "password": url.password, "host": url.host,
             "port": url.port, "dbname": url.database}  # fmt: skip
    return make_conninfo(**{key: value for key, value in parts.items() if value is not None},
                         **query)  # fmt: skip


def _from_keyword_dsn(dsn: str) -> URL:
    """`host=/tmp dbname=x user=y` -> URL; libpq parses it, so quoting rules are libpq's."""
    try:
        params = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
    except Exception:  # psycopg.ProgrammingError for bad syntax
        raise ValueError(NOT_A_URL) from None
    port = params.pop("port", None)
    return URL.create(
        DRIVER,
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=None,
        port=int(port) if port else None,
        database=params.pop("dbname", None),
        # host stays a query parameter: it may be a socket directory or a host list.
        query=params,
    )
