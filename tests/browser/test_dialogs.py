"""A position's dialogs give the trader what acting on it needs, in real Chromium against the
real mesh: the part-close dialog offers only the shares that close something (a quarter of
0.0001 USD closes nothing: its chip is disabled and says why).
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.steps import Console, open_long_from_ticket, position_row, sign_up
from tests.e2e.harness import MailCatcher, Mesh


def test_the_part_close_offers_only_shares_that_close(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    sign_up(page, mesh, mail, "dialogs@example.com")
    open_long_from_ticket(page, "0.0001", 1000)  # 100x LONG at the ask 235.95
    row = position_row(page)
    expect(row).to_have_count(1)

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
