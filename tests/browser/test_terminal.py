"""The terminal as a trader uses it, in real Chromium against the real mesh: sign in through
the mailed link, a live price change, a market trade from the ticket shown on the chart and in
the list, closing it, the history, a replayed crash that liquidates a position while the page
shows the notice, a gateway restart the page survives without a reload, and the phone layout.
No console errors. Screenshots go to test-artifacts/browser/.

Every wait is for a condition on the page (Playwright's expect), never a fixed sleep: the
machine may be slow and busy. The one exception shows an absence (nothing sent after a
sign-out), which only a span of time can.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.steps import (
    EMAIL,
    OUTAGE_NOISE,
    REJECTION_NOISE,
    WAIT_MS,
    Console,
    open_long_from_ticket,
    position_row,
    replay,
    shot,
    sign_up,
)
from tests.e2e.conftest import wait_for_price
from tests.e2e.harness import MailCatcher, Mesh


def test_a_trader_signs_in_trades_and_survives_a_crash(
    browser: Any, mesh: Mesh, mail: MailCatcher, tmp_path: Path, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)

    # --- signed out: markets live, the sign-in form, the chart ---
    page.goto(mesh.base_url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator('#markets tr[data-asset="SOL_USDC"] .bid')).to_have_text("235.900000")
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#t-submit")).to_have_text("Sign in to trade")  # why it is disabled
    expect(page.locator("#t-submit")).to_be_disabled()

    # --- sign in through the link the mail catcher received ---
    page.fill("#email", EMAIL)
    page.locator('#signin-form button[data-mode="signup"]').click()
    expect(page.locator("#signin-help")).to_contain_text("make run")
    link = mail.link_for(EMAIL, timeout_s=20)
    # The gateway sets the cookie and sends the browser back to /.
    page.goto(link, wait_until="commit")
    expect(page.locator("#user-email")).to_have_text(EMAIL)
    expect(page.locator('#account dd[data-k="balance"]')).to_have_text("5,000.0000 USD")
    expect(page.locator('#account dd[data-k="marginLevel"]')).to_have_text("\u2013")

    # --- a price change arrives over the WebSocket, no reload ---
    # The opening prices carry the replay's time 0, so today's first candle opens here.
    replay(
        mesh, tmp_path, "move", [("SOL_USDC", "235.95", "236.05"), ("SOL_USDC", "236.00", "236.05")]
    )
    expect(page.locator('#markets tr[data-asset="SOL_USDC"] .ask')).to_have_text("236.050000")
    expect(page.locator('#markets tr[data-asset="SOL_USDC"] .chg')).to_have_text("0.00%")
    expect(page.locator("#chart")).to_have_attribute("data-last", "236.05")
    shot(page, artifacts, "01-signed-in")

    # --- the ticket previews, then the server refuses a stop loss beside its field ---
    page.fill("#t-margin", "100")
    page.locator("#t-leverage").fill("1000")
    expect(page.locator("#t-leverage-x")).to_have_value("100")
    expect(page.locator('#preview dd[data-k="notional"]')).to_have_text("10,000.0000 USD")
    expect(page.locator('#preview dd[data-k="liquidation"]')).to_have_text("233.689500")
    console.allowed = REJECTION_NOISE
    page.fill("#t-sl", "300")  # above the bid: a LONG's stop loss must be below it
    expect(page.locator('#preview dd[data-k="pnlSl"]')).to_have_text("wrong side of the entry")
    page.locator("#t-submit").click()
    try:
        expect(page.locator("#t-sl-error")).to_contain_text("stop loss")
    except AssertionError as exc:
        errors = page.locator("#ticket .field-error").all_inner_texts()
        raise AssertionError(
            f"ticket errors: {errors}; gateway log tail:\n{mesh.log('gateway')[-2000:]}"
        ) from exc
    expect(page.locator("#t-sl")).to_have_attribute("aria-invalid", "true")
    shot(page, artifacts, "02-ticket-rejection")
    # More than the balance: the engine's INSUFFICIENT_BALANCE lands under the margin.
    page.fill("#t-sl", "")
    # Edited, the stop loss no longer shows the refusal of its old value.
    expect(page.locator("#t-sl")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#t-sl-error")).to_have_text("")
    page.fill("#t-margin", "999999")
    page.locator("#t-submit").click()
    expect(page.locator("#t-margin-error")).to_contain_text("exceeds free balance")
    expect(page.locator("#t-sl-error")).to_be_hidden()
    page.fill("#t-margin", "100")
    console.allowed = ()

    # --- a market LONG from the ticket: in the list, on the chart, in the account ---
    page.fill("#t-sl", "")
    page.fill("#t-tp", "250")
    # On its right side, a level shows what it would realize.
    expect(page.locator('#preview dd[data-k="pnlTp"]')).to_have_text(
        re.compile(r"^\+[0-9,]+\.[0-9]+ USD$")
    )
    page.locator("#t-submit").click()
    row = position_row(page)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("236.050000")
    expect(row.locator(".mark")).to_have_text("236.000000")
    expect(row.locator(".pnl")).to_have_text("-2.1182")
    expect(page.locator("#chart")).to_have_attribute(
        "data-lines", "LONG 100x 236.05; TP 250; Liq. 233.6895"
    )
    expect(page.locator('#account dd[data-k="usedMargin"]')).to_have_text("100.0000 USD")
    # One price drives both: the account's unrealized PnL is the row's.
    expect(page.locator('#account dd[data-k="unrealizedPnl"]')).to_have_text("-2.1182 USD")
    expect(page.locator('#account dd[data-k="equity"]')).to_have_text("4,997.8818 USD")
    expect(page.locator('#account dd[data-k="marginLevel"]')).to_have_text("4,997.88%")
    shot(page, artifacts, "03-position-open")

    # --- close it: gone from the list, in the history ---
    close = row.get_by_role("button", name="Close LONG SOL/USDC position", exact=True)
    close.focus()
    page.keyboard.press("Enter")
    expect(row).to_have_count(0)
    expect(page.locator("#tab-positions")).to_be_focused()  # not the page's top
    page.locator("#tab-history").click()
    history = page.locator("#history tbody tr").first
    expect(history).to_contain_text("CLOSED")
    expect(history).to_contain_text("236.000000")
    expect(history).to_contain_text("-2.1182")
    shot(page, artifacts, "04-history")
    page.locator("#tab-positions").click()

    # --- a crash while the page watches: liquidated, and told ---
    open_long_from_ticket(page, "50", 1000)
    expect(position_row(page)).to_have_count(1)
    replay(mesh, tmp_path, "crash", [("SOL_USDC", "200.00", "200.05")])
    notice = page.locator(".notice.bad", has_text="was liquidated at 200.000000")
    expect(notice).to_be_visible()
    expect(position_row(page)).to_have_count(0)
    expect(page.locator('#account dd[data-k="balance"]')).to_have_text("4,947.8818 USD")
    # The day's change: from today's first candle (236.05) to the crash's ask.
    expect(page.locator('#markets tr[data-asset="SOL_USDC"] .chg')).to_have_text("-15.25%")
    shot(page, artifacts, "05-liquidated")

    # --- the gateway goes away: the page says so, then catches up without a reload ---
    open_long_from_ticket(page, "20", 1000)
    expect(position_row(page)).to_have_count(1)
    console.allowed = OUTAGE_NOISE
    mesh.stop("gateway")
    expect(page.locator("#conn")).to_have_attribute("data-state", "down")
    # The last prices stay, marked stale since the loss, and no order goes out on them.
    expect(page.locator("#prices-stale")).to_have_text(
        re.compile(r"^Prices stale since \d\d:\d\d:\d\d: reconnecting to the price feed")
    )
    expect(page.locator("body")).to_have_class(re.compile(r"\bprices-stale\b"))
    expect(page.locator("#t-submit")).to_be_disabled()
    expect(page.locator("#t-submit")).to_have_text("Prices stale: orders paused")
    expect(page.locator("#t-paused")).to_contain_text("New orders are paused: no live prices since")
    shot(page, artifacts, "06-disconnected")
    # While it is away, the price crashes again: the position dies unseen.
    replay(mesh, tmp_path, "crash2", [("SOL_USDC", "150.00", "150.05")])
    mesh.start("gateway")
    mesh.wait_http()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#prices-stale")).to_be_hidden()
    expect(page.locator("#t-paused")).to_be_hidden()
    expect(page.locator("#t-submit")).to_be_enabled()
    expect(position_row(page)).to_have_count(0)
    # Its end happened while the page was away: told on catching up, from the history.
    expect(page.locator(".notice.bad", has_text="was liquidated at 150.000000")).to_be_visible()
    expect(page.locator('#markets tr[data-asset="SOL_USDC"] .ask')).to_have_text("150.050000")
    console.allowed = ()

    # --- a take profit fires: told too ---
    page.fill("#t-tp", "151")
    open_long_from_ticket(page, "10", 100)
    expect(position_row(page)).to_have_count(1)
    expect(page.locator("#chart")).to_have_attribute("data-lines", re.compile(r"TP 151"))
    replay(mesh, tmp_path, "rally", [("SOL_USDC", "152.00", "152.05")])
    expect(page.locator(".notice.good", has_text="took profit at 152.000000")).to_be_visible()
    expect(position_row(page)).to_have_count(0)

    # --- the history: filtered by status, exported as CSV ---
    page.locator("#tab-history").click()
    expect(page.locator("#history tbody tr")).to_have_count(4)
    page.select_option("#h-status", "LIQUIDATED")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.locator("#h-csv").click()
    csv_lines = Path(download.value.path()).read_text().strip().splitlines()
    assert csv_lines[0].startswith("closedAt,tradeId,asset,direction,status"), csv_lines
    assert [line.split(",")[4] for line in csv_lines[1:]] == ["LIQUIDATED", "LIQUIDATED"]
    assert {line.split(",")[8] for line in csv_lines[1:]} == {"150", "200"}  # exit prices
    page.select_option("#h-status", "")
    page.locator("#tab-positions").click()

    # --- the same session on a phone ---
    cookies = context.cookies()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    phone.add_cookies(cookies)
    small = phone.new_page()
    phone_console = Console(small)
    small.goto(mesh.base_url)
    expect(small.locator("#user-email")).to_have_text(EMAIL)
    expect(small.locator('#markets tr[data-asset="SOL_USDC"] .ask')).to_have_text("152.050000")
    shot(small, artifacts, "07-phone")
    # One column, nothing wider than the screen.
    # On failure, the elements that stick out first (their parent does not).
    wide = small.evaluate(
        "[...document.querySelectorAll('body *')].filter(e =>"
        " e.getBoundingClientRect().right > 391"
        " && e.parentElement.getBoundingClientRect().right <= 391)"
        ".map(e => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)"
    )
    assert small.evaluate("document.documentElement.scrollWidth") <= 390, wide
    chart_box = small.locator(".chart-panel").bounding_box()
    ticket_box = small.locator(".ticket-panel").bounding_box()
    assert chart_box and ticket_box and ticket_box["y"] >= chart_box["y"] + chart_box["height"]
    # A position is a card on a phone: its buttons are on the screen, under its figures.
    small.locator("#tab-positions").click()
    open_long_from_ticket(small, "5", 10)
    expect(position_row(small)).to_have_count(1)
    small.locator("#positions").scroll_into_view_if_needed()  # down to the list, not sideways
    close = small.get_by_role("button", name="Close LONG SOL/USDC position", exact=True)
    box = close.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, box
    close.click()
    expect(position_row(small)).to_have_count(0)
    phone.close()

    page.locator("#logout").click()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#positions")).to_contain_text("Sign in to trade.")
    context.close()
    assert console.errors == [], console.errors
    assert phone_console.errors == [], phone_console.errors


def test_keyboard_reaches_the_ticket_and_the_markets(
    browser: Any, mesh: Mesh, artifacts: Path
) -> None:
    wait_for_price(mesh, "SOL_USDC", "235950000")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    console = Console(page)
    page.goto(mesh.base_url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)
    # Tab from the top: the skip link first, and it lands on the ticket.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    # A market is a button: Enter picks it for the chart and the ticket.
    page.locator('#markets tr[data-asset="BTC_USDC"] button').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#chart-asset")).to_have_text("BTC/USDC", timeout=WAIT_MS)
    expect(page.locator("#t-asset")).to_have_value("BTC_USDC")
    # The leverage slider moves with the arrow keys, a tenth of an x at a time.
    page.locator("#t-leverage").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#t-leverage-x")).to_have_value("10.1")
    page.get_by_role("button", name="1h", exact=True).press("Enter")
    expect(page.get_by_role("button", name="1h", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    shot(page, artifacts, "08-keyboard")
    # A reload keeps the market and the interval.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)
    expect(page.locator("#chart-asset")).to_have_text("BTC/USDC")
    expect(page.get_by_role("button", name="1h", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    context.close()
    assert console.errors == [], console.errors


def test_signing_out_stops_the_old_sessions_requests(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """Nothing of a session goes out after its sign-out (CI once saw a 401 console error right
    after one). Two things did: the page's looks for a closed trade not in the history yet
    (every half second or so, until it is there; the history is held empty here, so the page
    keeps looking), and the catch-up on the socket's reconnect, which a sign-out's restart of
    the socket set off, asking for the account without a session."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    looks: list[str] = []  # "look" for each request for the history, "signed out" once

    def empty_history(route: Any) -> None:
        looks.append("look")
        route.fulfill(
            status=200, content_type="application/json", body='{"trades": [], "nextCursor": null}'
        )

    page.route("**/api/v1/trades/closed*", empty_history)
    sign_up(page, mesh, mail, "history-wait@example.com")
    open_long_from_ticket(page, "10", 10)
    row = position_row(page)
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Close LONG SOL/USDC position", exact=True).click()
    expect(row).to_have_count(0)
    # The page is looking for the closed trade again: two more looks.
    for _ in range(2):
        page.wait_for_event("request", lambda request: "/api/v1/trades/closed" in request.url)

    page.locator("#logout").click()
    expect(page.locator("#signin-form")).to_be_visible()
    looks.append("signed out")
    # Only an absence to show: the next looks would have been due within 1.25 s and 1.5 s.
    page.wait_for_timeout(3_000)
    context.close()
    assert looks[looks.index("signed out") + 1 :] == [], looks
    assert console.errors == [], console.errors


def test_a_sign_out_in_another_tab_is_told(browser: Any, mesh: Mesh, mail: MailCatcher) -> None:
    """Two tabs share the session: a sign-out in one ends it in the other, which says why
    instead of silently showing the sign-in form."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    first = context.new_page()
    first_console = Console(first)
    sign_up(first, mesh, mail, "two-tabs@example.com")
    second = context.new_page()
    second_console = Console(second)
    second.goto(mesh.base_url)
    expect(second.locator("#user-email")).to_have_text("two-tabs@example.com")
    expect(second.locator("#conn")).to_have_attribute("data-state", "live")

    first.locator("#logout").click()
    expect(first.locator("#signin-form")).to_be_visible()
    expect(first.locator("#signin-help")).to_be_hidden()  # its own sign-out: nothing to explain
    expect(second.locator("#signin-form")).to_be_visible()
    expect(second.locator("#signin-help")).to_have_text(
        re.compile(r"^Signed out in another tab or window at \d\d:\d\d:\d\d\.$")
    )
    expect(second.locator("#positions")).to_contain_text("Sign in to trade.")
    context.close()
    assert first_console.errors == [], first_console.errors
    assert second_console.errors == [], second_console.errors


def test_one_refresh_for_an_action_of_the_pages_own(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """The page reloads its lists after each of its commands' answers, and the trade event
    that command causes arrives too: it asked for a second reload of everything, four more of
    the user's command tokens per click. An event of the page's own order now reloads
    nothing; the answer's reload shows it all."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    trade_events: list[str] = []

    def on_socket(socket: Any) -> None:
        def on_frame(payload: Any) -> None:
            if isinstance(payload, str) and '"type":"trade"' in payload.replace(" ", ""):
                trade_events.append(payload)

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    reads: list[str] = []
    page.on("request", lambda r: "/api/v1/trades/open" in r.url and reads.append(r.url))
    history_read: list[str] = []
    page.on("response", lambda r: "/api/v1/trades/closed" in r.url and history_read.append(r.url))
    sign_up(page, mesh, mail, "one-refresh@example.com")
    for _ in range(200):  # until the start's reload has read its last list, the history
        if history_read:
            break
        page.wait_for_timeout(50)
    assert history_read and reads
    reads.clear()
    open_long_from_ticket(page, "10", 10)
    expect(position_row(page)).to_have_count(1)
    # The event comes on the socket about when the answer does; time for it to arrive and to
    # set off a reload if it were going to (an absence, shown over a span of time).
    page.wait_for_timeout(1_500)
    context.close()
    assert trade_events, "the trade's own event never came: the test would show nothing"
    assert len(reads) == 1, reads
    assert console.errors == [], console.errors


def test_a_second_click_while_an_order_is_on_its_way_sends_nothing(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """Every render of the ticket (each price tick, each keystroke) set the order button's
    state from the session alone, so a click right after another, with a tick between them,
    opened a second position. Here the render comes between the two clicks on purpose."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "double-click@example.com")
    sent: list[str] = []
    page.on("request", lambda r: r.url.endswith("/api/v1/engine") and sent.append(r.method))
    page.select_option("#t-asset", "SOL_USDC")
    page.check("#t-long", force=True)
    page.fill("#t-margin", "10")
    page.locator("#t-leverage").fill("10")
    page.evaluate(
        """() => {
            const submit = document.getElementById("t-submit");
            submit.click();
            document.getElementById("t-margin").dispatchEvent(new Event("input", {bubbles: true}));
            submit.click();
        }"""
    )
    expect(position_row(page)).to_have_count(1)
    expect(page.locator("#t-submit")).to_be_enabled()  # the first order was answered
    context.close()
    assert sent == ["POST"], sent
    assert console.errors == [], console.errors


def _closed_row(i: int, status: str = "CLOSED") -> dict[str, Any]:
    closed_at = 1_800_000_000_000 - i * 60_000  # newest first, as the server pages them
    return {
        "tradeId": f"00000000-0000-4000-8000-{i:012d}", "asset": "SOL_USDC", "direction": "LONG",
        "margin": 10, "leverage": 1, "entryPrice": 230, "liquidationPrice": None,
        "stopLossPrice": None, "takeProfitPrice": None, "openedAt": closed_at - 60_000,
        "status": status, "exitPrice": 231, "pnl": 0.0434, "totalReturn": 10.0434,
        "closedAt": closed_at, "partial": False,
    }  # fmt: skip


def test_the_history_keeps_its_loaded_pages_and_exports_them_all(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """Two pages of history, served by the test (61 rows, the one CANCELLED row on the second
    page): a filter says when its rows may lie further back, a trade event keeps the pages
    loaded, the CSV holds every row, and a sign-out leaves no "Load more"."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    rows = [_closed_row(i) for i in range(60)] + [_closed_row(60, "CANCELLED")]

    def history(route: Any) -> None:
        second = "cursor=page-2" in route.request.url
        body = {"trades": rows[50:] if second else rows[:50],
                "nextCursor": None if second else "page-2"}  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/trades/closed*", history)
    sign_up(page, mesh, mail, "history-pages@example.com")
    page.locator("#tab-history").click()
    table = page.locator("#history tbody tr")
    expect(table).to_have_count(50)
    page.select_option("#h-status", "CANCELLED")
    expect(table).to_have_text(
        ["None among the trades loaded so far: load more to look further back."]
    )
    page.select_option("#h-status", "")
    page.locator("#h-more").click()
    expect(table).to_have_count(61)
    expect(page.locator("#h-more")).to_be_hidden()

    # A trade of the user's own (its answer and its events refresh the history): the pages stay.
    page.locator("#tab-positions").click()
    open_long_from_ticket(page, "10", 10)
    expect(position_row(page)).to_have_count(1)
    page.locator("#tab-history").click()
    expect(table).to_have_count(61)

    rows[:0] = [_closed_row(-1)]  # one more end: the newest page has it on top
    page.locator("#tab-positions").click()
    position_row(page).get_by_role("button", name="Close LONG SOL/USDC position").click()
    expect(position_row(page)).to_have_count(0)
    page.locator("#tab-history").click()
    expect(table).to_have_count(62)

    # More ends than a page since: the history starts again from the newest page.
    rows[:0] = [_closed_row(-200 + k) for k in range(51)]
    page.locator("#tab-positions").click()
    open_long_from_ticket(page, "10", 10)
    expect(position_row(page)).to_have_count(1)
    page.locator("#tab-history").click()
    expect(table).to_have_count(50)
    expect(page.locator("#h-more")).to_be_visible()

    # The export fetches the page not loaded yet: every row is in the file, and in the table.
    with page.expect_download() as download:
        page.locator("#h-csv").click()
    lines = Path(download.value.path()).read_text().strip().splitlines()
    assert len(lines) == 1 + len(rows) and lines[-1].split(",")[4] == "CANCELLED", lines[-3:]
    expect(table).to_have_count(len(rows))
    expect(page.locator("#h-more")).to_be_hidden()

    # Once more a page's worth of ends: a cursor again, for the sign-out to forget.
    rows[:0] = [_closed_row(-400 + k) for k in range(51)]
    page.locator("#tab-positions").click()
    position_row(page).get_by_role("button", name="Close LONG SOL/USDC position").click()
    expect(position_row(page)).to_have_count(0)
    page.locator("#tab-history").click()
    expect(page.locator("#h-more")).to_be_visible()

    page.locator("#logout").click()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#h-more")).to_be_hidden()  # the old session's pages are gone
    context.close()
    assert console.errors == [], console.errors


def test_a_used_sign_in_link_lands_on_the_page_saying_why(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """A second click on a mailed link (or a mail scanner's first) is refused: the browser
    comes back to the page, which says why in its own words and forgets the fragment, instead
    of a page of raw JSON."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    email = "used-link@example.com"
    sign_up(page, mesh, mail, email)
    used = mail.link_for(email)
    # Signed in still (a mail scanner took the first click, say): nothing to tell.
    page.goto(used)
    expect(page.locator("#user-email")).to_have_text(email)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#signin-help")).to_be_hidden()
    assert page.url == f"{mesh.base_url}/"
    page.locator("#logout").click()
    expect(page.locator("#signin-form")).to_be_visible()

    page.goto(used)
    expect(page.locator("#signin-help")).to_have_text(re.compile("already used"))
    expect(page.locator("#signin-help")).to_be_visible()
    expect(page.locator("#signin-form")).to_be_visible()  # still signed out
    assert page.url == f"{mesh.base_url}/"  # the fragment is gone: a reload says nothing
    context.close()
    assert console.errors == [], console.errors


def test_a_burst_of_stop_outs_is_one_reload_not_one_each(
    browser: Any, mesh: Mesh, mail: MailCatcher, tmp_path: Path
) -> None:
    """One tick stops out eight positions: eight events. The page reloads once for the burst
    (and once more for events during that reload), not once each: each reload spends four of
    the user's command tokens, and a burst of thirteen ran into the rate limit."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "burst@example.com")
    for _ in range(8):  # opened elsewhere (another device): not the page's own orders
        body = {"command": "CREATE_TRADE", "asset": "SOL_USDC", "direction": "LONG",
                "margin": 1, "leverage": 10, "stopLossPrice": 230}  # fmt: skip
        answer = context.request.post(f"{mesh.base_url}/api/v1/engine", data=body)
        assert answer.ok, answer.text()
    expect(position_row(page)).to_have_count(8)
    page.wait_for_timeout(1_000)  # the burst of opens' own reload is over
    reloads: list[str] = []
    page.on("request", lambda r: "/api/v1/trades/open" in r.url and reloads.append(r.url))

    replay(mesh, tmp_path, "stops", [("SOL_USDC", "229.00", "229.05")])
    stopped = page.locator(".notice.bad", has_text="was stopped out")
    expect(stopped).to_contain_text("\u00d78")  # eight alike: one notice, counted
    expect(position_row(page)).to_have_count(0)
    # Only an absence to show: no reload per event arriving after the burst's.
    page.wait_for_timeout(1_500)
    context.close()
    assert 1 <= len(reloads) <= 2, reloads
    assert not [e for e in console.errors if "429" in e or "too many" in e], console.errors
    assert console.errors == [], console.errors
