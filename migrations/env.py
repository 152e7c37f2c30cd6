"""Alembic environment: the URL comes from the caller, alembic.ini or DATABASE_URL.

Run programmatically by `gateway_svc.db.migrate`, which passes the URL in
`config.attributes["database_url"]` (not in the ini options, where a `%` in a password would
be read as interpolation). Logging is left to the application unless alembic.ini configures it.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from gateway_svc.db.schema import metadata
from gateway_svc.db.urls import sqlalchemy_url

# Any constant will do: it only has to be the same for every process that migrates.
MIGRATION_LOCK_KEY = 0x6D696772  # "migr"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = (
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL or pass one to upgrade_to_head()")
    return sqlalchemy_url(url)


def run_offline() -> None:
    """`alembic upgrade head --sql`: print the DDL instead of running it."""
    context.configure(url=_database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                # Several services may start at once and each migrate: the lock makes the
                # later ones wait, then find the schema at head and do nothing.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
