"""For tests of files that must be private from birth (0600 files in 0700 folders): the mode
bits of a path, and fixtures that make a file's creation the only thing that can set them.
Both test_private_files modules use these; `tests/conftest.py` registers the fixtures."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: whatever the files end up with is what the code asked for."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chmod after the fact does nothing: only the mode given at creation counts."""
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    monkeypatch.setattr(Path, "chmod", lambda *args, **kwargs: None)
