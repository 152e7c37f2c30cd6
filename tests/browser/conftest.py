"""Browser tests: the built terminal in Debian's Chromium, driven by Playwright through its
executable path (no browser downloads here), against the real mesh of tests/e2e."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# The mesh (engine, gateway, poller on a replay file, ledger when the harness has one) and the
# SMTP catcher, exactly as the end-to-end tests start them.
from tests.e2e.conftest import mail, mesh  # noqa: F401  (fixtures)

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILT_PAGE = REPO_ROOT / "gateway_svc" / "static" / "index.html"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        # Never a silent skip: `make test` installs it (make chromium).
        pytest.fail("Chromium is not installed: run `make chromium` (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps its event loop running in this thread while
    it is open, and any later test that starts a loop of its own (asyncio.run) would fail."""
    if not BUILT_PAGE.is_file():
        pytest.fail("the web page is not built: run `make web` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
