"""How the terminal reads and takes numbers, in real Chromium against the real mesh: a PnL in
the history carries its sign, the chart legend groups a price's thousands as the rest of the
page does, the leverage slider and its typed value reach every tenth of an x together, and a
burst of identical refusals is one notice with a count, not a pile; and the page starts with
the browser's storage blocked.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.browser.steps import Console, position_row, sign_up
from tests.e2e.harness import MailCatcher, Mesh

RATE_LIMIT_NOISE = ("the server responded with a status of 429",)


def _closed(i: int, pnl: float) -> dict[str, Any]:
    closed_at = 1_800_000_000_000 - i * 60_000
    return {
        "tradeId": f"00000000-0000-4000-8000-{i:012d}", "asset": "SOL_USDC", "direction": "LONG",
        "margin": 1500, "leverage": 1, "entryPrice": 230, "liquidationPrice": None,
        "stopLossPrice": None, "takeProfitPrice": None, "openedAt": closed_at - 60_000,
        "status": "CLOSED", "exitPrice": 231, "pnl": pnl, "totalReturn": 1500 + pnl,
        "closedAt": closed_at, "partial": False,
    }  # fmt: skip


def test_the_history_signs_pnl_and_shows_usd_one_way(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    rows = [_closed(0, 12.5), _closed(1, -3.1), _closed(2, 0.0434)]
    page.route(
        "**/api/v1/trades/closed*",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"trades": rows, "nextCursor": None}),
        ),
    )
    sign_up(page, mesh, mail, "display-history@example.com")
    page.locator("#tab-history").click()
    table = page.locator("#history tbody tr")
    expect(table).to_have_count(3)
    pnl = table.locator("td:nth-child(10)")
    expect(pnl).to_have_text(["+12.5000", "-3.1000", "+0.0434"])
    expect(pnl.first).to_have_class("num pos")
    expect(pnl.nth(1)).to_have_class("num neg")
    expect(table.first.locator("td:nth-child(5)")).to_have_text("1,500.0000")  # the margin
    context.close()
    assert console.errors == [], console.errors


def test_the_chart_legend_groups_thousands(browser: Any, mesh: Mesh) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    page.goto(mesh.base_url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.locator('#markets tr[data-asset="BTC_USDC"] button').click()
    expect(page.locator("#chart-asset")).to_have_text("BTC/USDC")
    # The opening ask of BTC is 90012.7: as the markets list shows it.
    expect(page.locator('#markets tr[data-asset="BTC_USDC"] .ask')).to_have_text("90,012.7000")
    expect(page.locator("#chart-legend")).to_contain_text("C 90,012.7000")
    context.close()
    assert console.errors == [], console.errors


def test_the_page_works_with_storage_blocked(browser: Any, mesh: Mesh) -> None:
    """A browser whose privacy settings block storage throws on any use of localStorage: the
    page starts, shows prices and switches markets all the same, only without remembering."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('The operation is insecure.', 'SecurityError'); }});"
    )
    page = context.new_page()
    console = Console(page)
    page.goto(mesh.base_url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#signin-form")).to_be_visible()
    page.locator('#markets tr[data-asset="BTC_USDC"] button').click()
    expect(page.locator("#chart-asset")).to_have_text("BTC/USDC")
    five = page.locator("#intervals").get_by_role("button", name="5m", exact=True)
    five.click()
    expect(five).to_have_attribute("aria-pressed", "true")
    context.close()
    assert console.errors == [], console.errors


def test_the_leverage_slider_and_its_input_reach_every_tenth(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "display-leverage@example.com")
    slider, typed = page.locator("#t-leverage"), page.locator("#t-leverage-x")
    expect(typed).to_have_value("10")
    # From the slider: a tenth of an x per key, the typed value following.
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(typed).to_have_value("10.5")
    expect(slider).to_have_attribute("aria-valuetext", "10.5x")
    slider.fill("999")
    expect(typed).to_have_value("99.9")
    # Typed: the slider follows, and the order goes out at that leverage.
    page.select_option("#t-asset", "SOL_USDC")
    page.fill("#t-margin", "10")
    typed.fill("12.5")
    expect(slider).to_have_value("125")
    expect(page.locator('#preview dd[data-k="notional"]')).to_have_text("125.0000 USD")
    page.locator("#t-submit").click()
    row = position_row(page)
    expect(row).to_have_count(1)
    expect(row.locator("td:nth-child(4)")).to_have_text("12.5x")
    # Off the tenths or out of range: said under the field, the slider stays put.
    typed.fill("12.55")
    page.locator("#t-submit").click()
    expect(page.locator("#t-leverage-x-error")).to_have_text(
        "leverage is 1x to 100x, in steps of 0.1x"
    )
    expect(slider).to_have_value("125")
    context.close()
    assert console.errors == [], console.errors


def test_a_burst_of_identical_refusals_is_one_notice_with_a_count(browser: Any, mesh: Mesh) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    console.allowed = RATE_LIMIT_NOISE
    refused = json.dumps({"success": False, "error": "too many requests", "code": "RATE_LIMITED"})
    page.route(
        "**/api/v1/user/signin",
        lambda route: route.fulfill(
            status=429,
            content_type="application/json",
            body=refused,
            headers={"Retry-After": "1"},
        ),
    )
    page.goto(mesh.base_url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.fill("#email", "burst@example.com")
    signin = page.locator('#signin-form button[data-mode="signin"]')
    notices = page.locator(".notice.bad", has_text="too many requests")
    signin.click()
    expect(notices).to_have_count(1)
    expect(notices.locator(".count")).to_have_text("")
    for _ in range(2):
        signin.click()
    expect(notices.locator(".count")).to_have_text("\u00d73")  # times 3
    expect(notices).to_have_count(1)
    expect(page.locator(".notice")).to_have_count(1)
    context.close()
    assert console.errors == [], console.errors
