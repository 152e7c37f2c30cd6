"""A migrated database and a connected `Database` for each test, on the real test server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_svc.db import Database
from gateway_svc.db.migrate import upgrade_to_head


@pytest.fixture
def migrated_url(database_url: str) -> str:
    upgrade_to_head(database_url)
    return database_url


@pytest.fixture
async def db(migrated_url: str) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_url)
    yield database
    await database.close()
