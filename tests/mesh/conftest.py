from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.exchange_command import port_taken


@pytest.fixture
def taken() -> Iterator[int]:
    """tests.exchange_command.port_taken, for a test's length."""
    with port_taken() as port:
        yield port
