"""Stale prices, in real Chromium against the real mesh: they stay marked stale after an outage
until a fresh one comes, and while they are, new orders wait but a position still closes, its
preview dimmed like the ticket's. The page's socket goes through the test (Playwright's
WebSocket routing), which can drop it and hold back the prices the server sends, so "live
again" and "a price again" come apart. The server sends each market's latest price first thing
on a new socket; here those are held back, so the socket is live on the prices from before the
outage.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.steps import Console, RoutedSocket, open_long_from_ticket, position_row, sign_up
from tests.e2e.harness import MailCatcher, Mesh


def _stale(page: Page) -> None:
    expect(page.locator("#prices-stale")).to_have_text(re.compile(r"^Prices stale since"))
    expect(page.locator("#t-submit")).to_be_disabled()
    expect(page.locator("#t-submit")).to_have_text("Prices stale: orders paused")


def test_prices_stay_stale_on_a_live_socket_until_a_price_comes(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    feed = RoutedSocket(page)
    sign_up(page, mesh, mail, "stale@example.com")
    page.fill("#t-margin", "10")
    expect(page.locator("#t-submit")).to_be_enabled()

    # --- the socket lost, then live again with no price yet: still stale, no order ---
    feed.cut = True
    feed.drop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "down")
    _stale(page)
    feed.hold_prices, feed.cut = True, False
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    _stale(page)

    # --- the server's latest prices come through on the next socket: live again ---
    feed.hold_prices = False
    feed.drop()
    expect(page.locator("#prices-stale")).to_be_hidden()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#t-submit")).to_be_enabled()
    context.close()
    assert console.errors == [], console.errors


def test_a_position_closes_on_stale_prices_its_preview_dimmed(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """Closing is how a trader gets out, and the exchange closes at its own price: it stays
    open while new orders wait, and the note under the ticket says no more than that."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    feed = RoutedSocket(page)
    sign_up(page, mesh, mail, "stale-close@example.com")
    open_long_from_ticket(page, "20", 100)
    row = position_row(page)
    expect(row).to_have_count(1)

    feed.cut = True
    feed.drop()
    _stale(page)
    expect(page.locator("#t-paused")).to_have_text(
        re.compile(r"^New orders are paused: .* positions can still be closed, at the exchange")
    )
    expect(page.locator('#preview dd[data-k="required"]')).to_have_css("font-style", "italic")
    row.get_by_role("button", name=re.compile("^Close part")).click()
    expect(page.locator("#close-part")).to_be_visible()
    for key in ("pnl", "returned", "left"):
        expect(page.locator(f'#cp-preview dd[data-k="{key}"]')).to_have_css("font-style", "italic")
    page.get_by_role("button", name="50%").click()
    expect(page.locator("#cp-submit")).to_be_enabled()
    page.locator("#cp-submit").click()
    expect(page.locator(".notice", has_text="10.0000 USD still open")).to_be_visible()
    context.close()
    assert console.errors == [], console.errors
