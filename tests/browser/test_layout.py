"""Where things sit on the screen, in real Chromium against the real mesh: a position row's
buttons never cover a money figure, on a desktop or a phone (the row is a card there, with
its PnL beside the market); a notice covers neither the account's figures nor the lists; and
the ticket's "cannot reach the exchange" goes once the exchange answers again.

The open positions are served by a route: wide, realistic figures (a five-digit PnL, a BTC
trailing stop) that the opening prices could not make, marked by the live quotes as usual.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.steps import Console, position_row, shot, sign_up
from tests.e2e.harness import MailCatcher, Mesh

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
UNREACHABLE = "cannot reach the exchange: check your connection"
ABORT_NOISE = ("net::ERR_FAILED",)


def _trade(n: int, asset: str, direction: str, **fields: Any) -> dict[str, Any]:
    return {"tradeId": f"00000000-0000-4000-8000-{n:012d}", "asset": asset,
            "direction": direction, "liquidationPrice": None, "stopLossPrice": None,
            "takeProfitPrice": None, "unrealizedPnl": None, "trailingStopDistance": None,
            "openedAt": 1_800_000_000_000, **fields}  # fmt: skip


OPEN = [
    _trade(1, "SOL_USDC", "LONG", margin=1237.875, leverage=10, entryPrice=224.018042,
           liquidationPrice=201.616238, stopLossPrice=226.5, takeProfitPrice=248),
    # Marked at the ask 90,012.7: +49,936.4985 USD.
    _trade(2, "BTC_USDC", "SHORT", margin=4999.9999, leverage=100, entryPrice=99999.9999,
           liquidationPrice=100999.9998, stopLossPrice=90445.547, trailingStopDistance=150.5,
           takeProfitPrice=85000.5),
    _trade(3, "ETH_USDC", "LONG", margin=0.0001, leverage=1, entryPrice=3001.11),
]  # fmt: skip

# Per row: the PnL text's box against the buttons' boxes, the list's visible part and what
# the browser draws at the text's two ends. The list is scrolled to its left edge first (where
# a trader lands), and the window only vertically.
MEASURE = """() => [...document.querySelectorAll('#positions tbody tr[data-trade]')].map(row => {
  const scroller = row.closest('.scroll');
  scroller.scrollLeft = 0;
  window.scrollTo(0, row.getBoundingClientRect().top + window.scrollY - innerHeight / 2);
  const pnl = row.querySelector('.pnl');
  const range = document.createRange();
  range.selectNodeContents(pnl);
  const text = range.getBoundingClientRect();
  const cell = pnl.getBoundingClientRect();
  const view = scroller.getBoundingClientRect();
  const right = Math.min(view.right, innerWidth);
  const buttons = [...row.querySelectorAll('.actions button')].map(b => b.getBoundingClientRect());
  const hit = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const y = (text.top + text.bottom) / 2;
  const ends = [text.left + 1, text.right - 1].map(x => document.elementFromPoint(x, y));
  return {
    asset: row.dataset.asset,
    pnl: pnl.textContent,
    cellUnderButton: buttons.some(b => hit(b, cell)),
    textUnderButton: buttons.some(b => hit(b, text)),
    clipped: pnl.scrollWidth > pnl.clientWidth,
    textInView: text.left >= view.left && text.right <= right,
    textDrawn: ends.every(e => e !== null && pnl.contains(e)),
    buttonsInView: buttons.length === 3 &&
      buttons.every(b => b.left >= view.left && b.right <= right),
  };
})"""


def _assert_rows_readable(page: Page) -> None:
    rows = page.evaluate(MEASURE)
    assert len(rows) == 3, rows
    for row in rows:
        bad = [k for k in ("cellUnderButton", "textUnderButton", "clipped") if row[k]]
        bad += [k for k in ("textInView", "textDrawn", "buttonsInView") if not row[k]]
        assert not bad, (bad, row)


def _serve_open_trades(context: Any) -> None:
    context.route(
        "**/api/v1/trades/open",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps({"trades": OPEN})
        ),
    )


def _overlap(a: dict[str, float] | None, b: dict[str, float] | None) -> bool:
    assert a is not None and b is not None
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_position_rows_never_cover_a_money_figure(
    browser: Any, mesh: Mesh, mail: MailCatcher, artifacts: Any
) -> None:
    desk = browser.new_context(viewport=DESKTOP)
    _serve_open_trades(desk)
    page = desk.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "layout@example.com")
    expect(page.locator("#positions tbody tr[data-trade]")).to_have_count(3)
    # Marked live from the quotes, with every decimal of the asset.
    btc = position_row(page, "BTC_USDC")
    expect(btc.locator(".pnl")).to_have_text("+49,936.4985")
    expect(position_row(page, "SOL_USDC").locator(".pnl")).to_have_text("+656.5711")
    shot(page, artifacts, "layout-desktop")
    _assert_rows_readable(page)
    expect(btc.locator(".sl")).to_have_text("90,445.5470 trail 150.5000")

    phone = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    phone.add_cookies(desk.cookies())
    _serve_open_trades(phone)
    small = phone.new_page()
    phone_console = Console(small)
    small.goto(mesh.base_url)
    expect(small.locator("#user-email")).to_have_text("layout@example.com")
    expect(position_row(small, "BTC_USDC").locator(".pnl")).to_have_text("+49,936.4985")
    small.locator("#positions").scroll_into_view_if_needed()
    shot(small, artifacts, "layout-phone")
    _assert_rows_readable(small)
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.close()

    # The widths between, where the grid changes its layout twice (1320 and 1100 px): every
    # panel keeps a readable width (an L-shaped area once voided the whole template, and the
    # account and markets fell to a 45 px strip), and the rows stay whole.
    for width in (1200, 1000, 800):
        page.set_viewport_size({"width": width, "height": 900})
        widths = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.grid > .panel')]"
            ".map(p => [p.className, p.getBoundingClientRect().width]))"
        )
        shot(page, artifacts, f"layout-{width}")
        assert min(widths.values()) >= 280, (width, widths)
        _assert_rows_readable(page)
    desk.close()
    assert console.errors == [], console.errors
    assert phone_console.errors == [], phone_console.errors


def test_notices_keep_off_the_figures_and_a_lost_connection_clears(
    browser: Any, mesh: Mesh, mail: MailCatcher, artifacts: Any
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "notices@example.com")
    page.select_option("#t-asset", "SOL_USDC")
    page.fill("#t-margin", "1")
    page.locator("#t-submit").click()
    notice = page.locator(".notice.good", has_text="Opened LONG SOL/USDC")
    expect(notice).to_be_visible()
    expect(position_row(page)).to_have_count(1)
    shot(page, artifacts, "notice-desktop")
    assert page.locator("#notices").get_attribute("aria-live")
    # Nor on the ticket, whose fields a refusal points at (over the chart instead).
    for panel in (".account", ".lists", ".markets", ".ticket-panel"):
        assert not _overlap(notice.bounding_box(), page.locator(panel).bounding_box()), panel

    # The exchange out of reach: the ticket says so, and stops saying so once it answers.
    console.allowed = ABORT_NOISE
    page.route("**/api/v1/**", lambda route: route.abort())
    page.locator("#t-submit").click()
    expect(page.locator("#t-form-error")).to_have_text(UNREACHABLE)
    page.unroute("**/api/v1/**")
    # The next request is answered.
    page.locator("#intervals").get_by_role("button", name="5m", exact=True).click()
    expect(page.locator("#t-form-error")).to_have_text("")
    expect(page.locator("#conn")).to_have_text("Live")

    # Refusals stay until dismissed; from two on, one button dismisses them all.
    console.allowed = (*ABORT_NOISE, "status of 400")
    refusals = iter(["first refusal", "second refusal", *(f"refusal {n}" for n in range(3, 9))])

    def refuse(route: Any) -> None:
        message = next(refusals)
        engine = {"status": "error", "data": None, "message": message}
        body = {"success": False, "error": message, "code": "INVALID_ARGUMENT",
                "orderId": None, "engineResponse": engine}  # fmt: skip
        route.fulfill(status=400, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/engine", refuse)
    close = page.get_by_role("button", name="Close LONG SOL/USDC position", exact=True)
    close.click()
    expect(page.locator(".notice.bad", has_text="first refusal")).to_be_visible()
    expect(page.locator(".dismiss-all")).to_be_hidden()  # one notice: its own button will do
    for shown in range(2, 9):  # more than the stack's height holds: it scrolls
        close.click()
        expect(page.locator(".notice.bad")).to_have_count(shown)
    # The button stays at the top of the stack, in view, however many notices are under it.
    expect(page.locator(".dismiss-all")).to_be_in_viewport()
    assert page.evaluate("document.querySelector('#notices').firstElementChild.className") == (
        "dismiss-all"
    )
    page.locator(".dismiss-all").click()
    expect(page.locator(".notice")).to_have_count(0)
    expect(page.locator("#notices")).to_be_hidden()
    page.unroute("**/api/v1/engine")

    phone = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    phone.add_cookies(context.cookies())
    small = phone.new_page()
    phone_console = Console(small)
    small.goto(mesh.base_url)
    expect(small.locator("#user-email")).to_have_text("notices@example.com")
    small.locator("#positions").scroll_into_view_if_needed()
    small.get_by_role("button", name="Close LONG SOL/USDC position", exact=True).click()
    closed = small.locator(".notice", has_text="Closed SOL/USDC LONG")
    expect(closed).to_be_visible()
    box = closed.bounding_box()
    assert box is not None and box["y"] < 120, box  # at the top, off the list being used
    small.screenshot(path=str(artifacts / "notice-phone.png"))  # the screen, not the page
    phone.close()
    context.close()
    assert console.errors == [], console.errors
    assert phone_console.errors == [], phone_console.errors
