"""A position's dialogs give the trader what acting on it needs, in real Chromium against the
real mesh: the modify dialog the market's live bid and ask and the position's liquidation price
beside the levels being set, and the part-close dialog only the shares that close something
(a quarter of 0.0001 USD closes nothing: its chip is disabled and says why).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.steps import Console, open_long_from_ticket, position_row, replay, sign_up
from tests.e2e.harness import MailCatcher, Mesh


def test_the_dialogs_show_the_market_and_only_parts_that_close(
    browser: Any, mesh: Mesh, mail: MailCatcher, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "dialogs@example.com")
    open_long_from_ticket(page, "0.0001", 1000)  # 100x LONG at the ask 235.95
    row = position_row(page)
    expect(row).to_have_count(1)

    # --- modify: the live bid and ask, and where the position is liquidated ---
    row.get_by_role("button", name=re.compile("^Modify")).click()
    market = page.locator("#m-market")
    expect(market.locator('dd[data-k="bid"]')).to_have_text("235.900000")
    expect(market.locator('dd[data-k="ask"]')).to_have_text("235.950000")
    expect(market.locator('dd[data-k="liquidation"]')).to_have_text("233.590500")
    expect(page.locator("#m-side")).to_contain_text("A LONG closes at the bid")
    replay(mesh, tmp_path, "tick", [("SOL_USDC", "236.00", "236.05")])
    expect(market.locator('dd[data-k="bid"]')).to_have_text("236.000000")  # while it is open
    expect(market.locator('dd[data-k="ask"]')).to_have_text("236.050000")
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("#modify")).to_be_hidden()

    # --- part close: no share of 0.0001 USD but all of it closes anything ---
    row.get_by_role("button", name=re.compile("^Close part")).click()
    expect(page.locator("#close-part")).to_be_visible()
    expect(page.locator("#cp-margin")).to_have_value("")  # half of it would be 0
    for share in ("25%", "50%", "75%"):
        chip = page.get_by_role("button", name=share, exact=True)
        expect(chip).to_be_disabled()
        expect(chip).to_have_attribute("title", re.compile("less than 0.0001 USD"))
    expect(page.locator("#cp-chips-hint")).to_contain_text("cannot be closed")
    page.get_by_role("button", name="All", exact=True).click()
    expect(page.locator("#cp-margin")).to_have_value("0.0001")
    page.locator("#cp-submit").click()
    expect(row).to_have_count(0)
    context.close()
    assert console.errors == [], console.errors
