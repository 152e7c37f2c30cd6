"""What the browser tests share: the console watch, screenshots, price replays, and the steps
a trader takes on the page (signing in, the ticket)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.harness import MailCatcher, Mesh, write_replay

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
EMAIL = "trader@example.com"
# What Chromium itself logs (not the page's code) for a failed request: allowed only in the
# steps that cause it on purpose, the gateway's outage and a business rejection (HTTP 400).
OUTAGE_NOISE = (
    "ERR_CONNECTION_REFUSED",
    "WebSocket connection to",
    "ERR_EMPTY_RESPONSE",
    "ERR_CONNECTION_RESET",
    "503 (Service Unavailable)",
)
REJECTION_NOISE = ("the server responded with a status of 400 (Bad Request)",)


def now_ms() -> int:
    return int(time.time() * 1000)


def replay(mesh: Mesh, tmp_path: Path, name: str, rows: list[tuple[str, str, str]]) -> None:
    """Swap the poller for one playing `rows` (asset, bid, ask), stamped from now on."""
    start = now_ms()
    path = write_replay(
        tmp_path / f"{name}.csv", [(start + 100 * i, a, b, k) for i, (a, b, k) in enumerate(rows)]
    )
    mesh.stop("poller")
    mesh.start("poller", POLLER_SOURCE=f"replay:{path}", POLLER_REPLAY_SPEED="1")


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.allowed: tuple[str, ...] = ()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if any(noise in message.text for noise in self.allowed):
            return
        # A failed request's text does not name it; where it came from does.
        source = message.location.get("url", "") if message.location else ""
        self.errors.append(f"{message.type}: {message.text}" + (f" [{source}]" if source else ""))


class RoutedSocket:
    """The page's socket to /api/v1/ws, through the test (Playwright's WebSocket routing):
    `drop` loses it (the page reconnects by itself), `cut` refuses the reconnections,
    `hold_prices` keeps the server's prices from the page, and `send` says something to the
    page as the server would."""

    def __init__(self, page: Page) -> None:
        self.cut = False
        self.hold_prices = False
        self._sockets: list[tuple[Any, Any]] = []
        page.route_web_socket("**/api/v1/ws", self._route)

    def _route(self, ws: Any) -> None:
        if self.cut:
            ws.close()
            return
        server = ws.connect_to_server()
        server.on_message(lambda m: None if self.hold_prices and _is_price(m) else ws.send(m))
        self._sockets.append((ws, server))

    def drop(self) -> None:
        while self._sockets:
            ws, server = self._sockets.pop()
            server.close()
            ws.close()

    def send(self, message: dict[str, Any]) -> None:
        for ws, _ in self._sockets:
            ws.send(json.dumps(message))


def _is_price(message: str | bytes) -> bool:
    try:
        return bool(json.loads(message).get("type") == "price")
    except ValueError:
        return False


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def position_row(page: Page, asset: str = "SOL_USDC") -> Any:
    return page.locator(f'#positions tr[data-asset="{asset}"]')


def open_long_from_ticket(page: Page, margin: str, leverage_l10: int) -> None:
    page.select_option("#t-asset", "SOL_USDC")
    page.check("#t-long", force=True)
    page.fill("#t-margin", margin)
    page.locator("#t-leverage").fill(str(leverage_l10))
    page.locator("#t-submit").click()


def sign_up(page: Page, mesh: Mesh, mail: MailCatcher, email: str) -> None:
    """A new trader: the sign-up link from the mail catcher, then the page signed in."""
    page.goto(mesh.base_url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.fill("#email", email)
    page.locator('#signin-form button[data-mode="signup"]').click()
    link = mail.link_for(email, timeout_s=20)
    page.goto(link, wait_until="commit")
    expect(page.locator("#user-email")).to_have_text(email)
