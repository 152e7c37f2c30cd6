"""Run the Alembic migrations from code: `exchange migrate`, `make run` and the tests use this.

Synchronous on purpose: it runs once, before the services start, and Alembic is synchronous.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from gateway_svc.db.urls import sqlalchemy_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """An in-memory Alembic config (no alembic.ini needed) aimed at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Through attributes, not set_main_option: ini interpolation would choke on a `%` in a
    # percent-encoded password.
    config.attributes["database_url"] = sqlalchemy_url(database_url)
    return config


def upgrade_to_head(database_url: str) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    command.upgrade(alembic_config(database_url), "head")
    log.info("database schema is at head")


def downgrade_to_base(database_url: str) -> None:
    """Drop every table the migrations created (development and tests only)."""
    command.downgrade(alembic_config(database_url), "base")
