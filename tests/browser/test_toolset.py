"""The broker's toolset in the terminal, in real Chromium against the real mesh: a limit order
from the ticket on the chart and in the orders list, modified there; a market trade whose stop
loss is dragged on the chart and confirmed by the server, then refused a bad stop loss in the
modify dialog; a partial close, then the close; the order filling on a price move and told; a
trailing stop set and moved from the keyboard on its chart grip; an order cancelled; and the
history of it all. No console errors beyond the rejections caused on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import REJECTION_NOISE, Console, position_row, replay, shot, sign_up
from tests.e2e.conftest import running_mesh
from tests.e2e.harness import MailCatcher, Mesh
from tests.polling import poll

EMAIL = "toolset@example.com"


@pytest.fixture
def mesh(redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher) -> Iterator[Mesh]:
    """The mesh with room for a burst of 200 commands: this test drives the page at machine
    speed, about 100 reads of the account, positions, orders and history in 3 s (each of the
    page's 22 refreshes spends four tokens), where the default burst of 40 at 20/s left four
    tokens to spare and a 429 came now and then. A person clicks slower; the limit's refusals
    and the page's 429 notice have tests of their own (test_limits, test_display)."""
    extra = {"COMMAND_RATE_BURST": "200"}
    with running_mesh(Mesh(redis_url, database_url, tmp_path, mail.port, extra_env=extra)) as up:
        yield up


def ticket(
    page: Page, order_type: str, direction: str, margin: str, l10: int, **fields: str
) -> None:
    """Fill the ticket for SOL/USDC and submit it; `fields` are input ids without `t-`."""
    page.select_option("#t-asset", "SOL_USDC")
    page.select_option("#t-type", order_type)
    page.check(f"#t-{direction.lower()}", force=True)
    page.fill("#t-margin", margin)
    page.locator("#t-leverage").fill(str(l10))
    for name, value in fields.items():
        page.fill(f"#t-{name}", value)
    page.locator("#t-submit").click()


def confirmed_level(page: Page, what: str) -> Decimal:
    """The level a 'now X: confirmed' notice names."""
    notice = page.locator(".notice.good", has_text=re.compile(rf"{what} is now [0-9.]+: confirmed"))
    expect(notice).to_be_visible()
    found = re.search(r"is now ([0-9.]+): confirmed", notice.inner_text())
    assert found, notice.inner_text()
    return Decimal(found.group(1))


def served_stop(page: Page, mesh: Mesh, want: Decimal | None = None) -> Decimal:
    """The open trade's stopLossPrice as the API serves it, once it is `want` (or after 10 s)."""

    def stop_loss() -> Decimal:
        trade = page.request.get(f"{mesh.base_url}/api/v1/trades/open").json()["trades"][0]
        return Decimal(str(trade["stopLossPrice"]))

    # Every 0.25 s, not 0.1: each read spends one of the user's command tokens, which the
    # page spends on its own reads at the same time.
    return poll(
        stop_loss,
        lambda stop: want is None or stop == want,
        timeout_s=10,
        every_s=0.25,
        must=False,
    )


def test_orders_modify_drag_partial_close_and_trailing_stop(
    browser: Any, mesh: Mesh, mail: MailCatcher, tmp_path: Path, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, EMAIL)
    expect(page.locator('#account dd[data-k="balance"]')).to_have_text("5,000.0000 USD")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    # --- prices belong to their market: switching it empties them, margin stays ---
    page.select_option("#t-type", "LIMIT")
    page.fill("#t-price", "230")
    page.fill("#t-tp", "240")
    page.fill("#t-margin", "100")
    page.select_option("#t-asset", "BTC_USDC")
    expect(page.locator("#t-price")).to_have_value("")
    expect(page.locator("#t-tp")).to_have_value("")
    expect(page.locator("#t-margin")).to_have_value("100")
    page.select_option("#t-asset", "SOL_USDC")

    # --- a LIMIT buy below the market, previewed at its own price ---
    page.select_option("#t-type", "LIMIT")
    expect(page.locator("#t-price")).to_be_visible()
    expect(page.locator("#t-price-hint")).to_contain_text("below the ask")
    page.fill("#t-price", "230")
    page.fill("#t-margin", "100")
    page.locator("#t-leverage").fill("100")
    expect(page.locator('#preview dd[data-k="entry"]')).to_have_text("230.000000")
    expect(page.locator('#preview dd[data-k="liquidation"]')).to_have_text("207.000000")
    ticket(page, "LIMIT", "LONG", "100", 100, price="230", tp="250")
    placed = page.locator(".notice.good", has_text="Placed LIMIT LONG SOL/USDC at 230.000000")
    expect(placed).to_be_visible()
    expect(page.locator("#orders-count")).to_have_text("(1)")
    expect(page.locator("#chart")).to_have_attribute(
        "data-lines", "LIMIT LONG 10x 230; Order TP 250"
    )
    # Its margin is reserved at once: the free balance drops by it.
    expect(page.locator('#account dd[data-k="reservedMargin"]')).to_have_text("100.0000 USD")
    expect(page.locator('#account dd[data-k="balance"]')).to_have_text("4,900.0000 USD")
    expect(page.locator('#account dd[data-k="equity"]')).to_have_text("5,000.0000 USD")
    page.locator("#tab-orders").click()
    order = page.locator("#orders tbody tr").first
    expect(order).to_contain_text("LIMIT")
    expect(order.locator(".price")).to_have_text("230.000000")
    shot(page, artifacts, "09-pending-order")

    # --- modified from the list: the dialog sends what changed, the server confirms ---
    order.get_by_role("button", name=re.compile("^Modify")).click()
    expect(page.locator("#modify")).to_be_visible()
    expect(page.locator("#m-price")).to_have_value("230")
    liquidation = page.locator('#m-market dd[data-k="liquidation"]')
    expect(liquidation).to_have_text("207.000000")  # the server's, filled at 230
    expect(page.locator("#m-liquidation-label")).to_contain_text("the order's price")
    page.fill("#m-price", "231")
    # Where a fill at the price being typed would be liquidated: 10x LONG, 231 * 0.9.
    expect(liquidation).to_have_text("207.900000")
    expect(page.locator("#m-liquidation-label")).to_contain_text("the price typed")
    page.locator("#m-save").click()
    expect(page.locator("#modify")).to_be_hidden()
    expect(page.locator(".notice.good", has_text="modified: confirmed")).to_be_visible()
    expect(order.locator(".price")).to_have_text("231.000000")
    expect(page.locator("#chart")).to_have_attribute(
        "data-lines", re.compile("LIMIT LONG 10x 231;")
    )

    # --- a market LONG with a stop loss, the stop dragged down on the chart ---
    page.locator("#tab-positions").click()
    ticket(page, "MARKET", "LONG", "100", 100, sl="225")
    row = position_row(page)
    expect(row).to_have_count(1)
    expect(row.locator(".sl")).to_have_text("225.000000")
    grip = page.locator('#chart .grip[data-kind="sl"]').filter(has_text="SL 225")
    # A grip hides while its line is off the chart's autoscaled range, which moves with the
    # candles: measured once it is on the chart (it was seen visible, then hidden, under load).
    box = poll(grip.bounding_box, timeout_s=10, what="the stop loss grip on the chart")
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 7):
        page.mouse.move(x, y + 10 * step)
    shot(page, artifacts, "10-dragging-stop-loss")
    page.mouse.up()
    moved = confirmed_level(page, "stop loss of SOL/USDC LONG")
    assert Decimal("207") < moved < Decimal("225"), moved  # below where it was, above liq.
    plain = f"{moved.normalize():f}"  # as the API writes it: 220.5, not 220.50
    expect(row.locator(".sl")).to_have_text(f"{moved:,.6f}")
    expect(page.locator("#chart")).to_have_attribute("data-lines", re.compile(rf"SL {plain}(;|$)"))

    # --- the modify dialog shows the server's refusal beside the field ---
    console.allowed = REJECTION_NOISE
    row.get_by_role("button", name=re.compile("^Modify")).click()
    expect(page.locator("#m-sl")).to_have_value(plain)
    page.fill("#m-sl", "240")  # above the bid: a LONG's stop loss must be below it
    page.locator("#m-save").click()
    expect(page.locator("#m-sl-error")).to_contain_text("stop loss")
    expect(page.locator("#m-sl")).to_have_attribute("aria-invalid", "true")
    shot(page, artifacts, "11-modify-refused")
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("#modify")).to_be_hidden()
    expect(row.locator(".sl")).to_have_text(f"{moved:,.6f}")  # unchanged
    console.allowed = ()

    # --- half of it closed, then the rest ---
    row.get_by_role("button", name=re.compile("^Close part")).click()
    expect(page.locator("#close-part")).to_be_visible()
    page.get_by_role("button", name="50%").click()
    expect(page.locator("#cp-margin")).to_have_value("50")
    expect(page.locator('#cp-preview dd[data-k="left"]')).to_have_text("50.0000 USD")
    # Opened at the ask 235.95, closing at the bid 235.90: 50 * 10x * (235.90 - 235.95) / 235.95
    expect(page.locator('#cp-preview dd[data-k="pnl"]')).to_have_text("-0.1060 USD")
    shot(page, artifacts, "12-partial-close")
    page.locator("#cp-submit").click()
    expect(page.locator(".notice", has_text="50.0000 USD still open")).to_be_visible()
    expect(row.locator(".margin")).to_have_text("50.0000")
    row.get_by_role("button", name="Close LONG SOL/USDC position", exact=True).click()
    expect(row).to_have_count(0)

    # --- the price dips to the order: it fills, and the page says so ---
    replay(mesh, tmp_path, "dip", [("SOL_USDC", "230.90", "230.95")])
    filled = page.locator(".notice.good", has_text="SOL/USDC LONG order filled at 230.950000")
    expect(filled).to_be_visible()
    expect(page.locator("#orders-count")).to_have_text("")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("230.950000")
    expect(row.locator(".tp")).to_have_text("250.000000")

    # --- a trailing stop, then its grip moved down from the keyboard: a wider trail ---
    row.get_by_role("button", name=re.compile("^Modify")).click()
    page.fill("#m-trail", "2")
    page.locator("#m-save").click()
    expect(page.locator("#modify")).to_be_hidden()
    expect(row.locator(".sl")).to_have_text("228.900000 trail 2.000000")  # bid 230.90 - 2
    trail = page.locator('#chart .grip[data-kind="trail"]')
    expect(trail).to_contain_text("Trail 228.9")
    trail.focus()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    notice = page.locator(".notice.good", has_text=re.compile(r"trails by [0-9.]+: confirmed"))
    expect(notice).to_be_visible()
    found = re.search(r"trails by ([0-9.]+)", notice.inner_text())
    assert found and Decimal(found.group(1)) > 2, notice.inner_text()
    distance = Decimal(found.group(1))
    expect(row.locator(".sl")).to_contain_text(f"trail {distance:,.6f}")
    # A rally moves the stop without an event: the page follows the ticks, as the server does.
    replay(
        mesh,
        tmp_path,
        "rally",
        [("SOL_USDC", "232.00", "232.05"), ("SOL_USDC", "233.10", "233.15")],
    )
    expect(row.locator(".mark")).to_have_text("233.100000")
    stop = Decimal("233.10") - distance
    expect(row.locator(".sl")).to_have_text(f"{stop:,.6f} trail {distance:,.6f}")
    # The page saw the ticks on the price feed; the engine applies them a moment apart.
    assert served_stop(page, mesh, want=stop) == stop
    expect(page.locator("#chart")).to_have_attribute(
        "data-lines", re.compile(rf"Trail {stop.normalize():f}(;|$)")
    )
    shot(page, artifacts, "13-trailing-stop")

    # --- a SHORT limit above the market, good till tomorrow, cancelled: its margin comes back ---
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    ticket(page, "LIMIT", "SHORT", "40", 100, price="240", expiry=tomorrow)
    expect(page.locator("#orders-count")).to_have_text("(1)")
    # The ticket keeps neither its price nor its expiry for the next order.
    expect(page.locator("#t-price")).to_have_value("")
    expect(page.locator("#t-expiry")).to_have_value("")
    page.locator("#tab-orders").click()
    page.get_by_role("button", name="Cancel LIMIT SHORT SOL/USDC order").click()
    expect(page.locator(".notice", has_text="40.0000 USD returned")).to_be_visible()
    expect(page.locator("#orders-count")).to_have_text("")

    # --- the history: the part, the close and the cancelled order ---
    page.locator("#tab-history").click()
    history = page.locator("#history tbody tr")
    cancelled = history.filter(has_text="CANCELLED")
    expect(cancelled).to_have_count(1)
    # Never filled: no entry, its price as the order's own.
    expect(cancelled.locator("td.entry")).to_have_text("\u2013")
    expect(cancelled.locator("td.order")).to_have_text("LIMIT 240.000000")
    filled_row = history.filter(has_text=re.compile(r"CLOSED(?! \(part\))"))
    expect(filled_row.locator("td.order")).to_have_text("Market")
    expect(history.filter(has_text="CLOSED (part)")).to_have_count(1)
    expect(history.filter(has_text=re.compile(r"CLOSED(?! \(part\))"))).to_have_count(1)
    shot(page, artifacts, "14-toolset-history")
    context.close()
    assert console.errors == [], console.errors
