"""Real servers for the tests: REDIS_URL / DATABASE_URL when set (CI's own servers), else the
embedded ones the exchange itself uses. Each test that asks gets an empty Redis database and a
fresh Postgres database. Under pytest-xdist each worker has its own embedded servers, or its
own database on a shared Redis (`worker_redis_url`); nothing a test does to a shared server
may reach past its own databases (tests/redis_admin.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from mesh.embedded import EmbeddedPostgres, EmbeddedRedis

pytest_plugins = ["tests.file_modes"]  # open_umask, no_chmod

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


REDIS_DATABASES = 16  # a Redis server's default


def redis_database(url: str) -> int:
    """The database a redis:// (path) or unix:// (query `db`) URL names; 0 if none."""
    parts = urlsplit(url)
    base = dict(parse_qsl(parts.query)).get("db") or (
        parts.path.strip("/") if parts.scheme != "unix" else ""
    )
    return int(base) if base.isdigit() else 0


def with_redis_database(url: str, db: int) -> str:
    """`url` naming database `db`: in the query for unix:// (whose path is the socket's) or
    when the URL has a `db` query already (it wins over the path), else as the path."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if "db" in query or parts.scheme == "unix":
        query["db"] = str(db)
        return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def worker_redis_url(url: str, worker: str | None) -> str:
    """The database of one pytest-xdist worker on a shared server: `gwN` takes the URL's
    database plus N + 1, so no worker empties another's, and none shares the URL's own database
    with clients of other programs or with connections that have not yet run their SELECT."""
    if not worker or not worker.startswith("gw"):
        return url
    db = redis_database(url) + int(worker[2:]) + 1
    if db >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"pytest worker {worker} would need Redis database {db} of {REDIS_DATABASES}: "
            "run fewer workers (make test PYTEST_WORKERS=N) or a REDIS_URL with a lower database"
        )
    return with_redis_database(url, db)


# Set here, for the whole worker: a process a test starts inherits the worker's database too.
if os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = worker_redis_url(
        os.environ["REDIS_URL"], os.environ.get("PYTEST_XDIST_WORKER")
    )


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """An emptied Redis database (the tests of one worker run one at a time against it)."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), database="postgres")
    yield server.start()
    server.stop()


def libpq_url(url: str) -> str:
    """psycopg wants a plain libpq URL, without SQLAlchemy's driver suffix."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(postgres_admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SERVER_FIXTURES = {"redis_url", "redis_server_url", "database_url", "postgres_admin_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a real server is an integration test: CI runs those twice, once on
    the embedded servers and once on the machine's own."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
