"""Why the sign-in form is back, in real Chromium against the real mesh, with two tabs of one
browser sharing the session: a tab says "Signed out in another tab" only for the sign-out that
ended its session, never for a later one.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.steps import Console, RoutedSocket, sign_up
from tests.e2e.harness import MailCatcher, Mesh

ENDED = "Your session has ended: sign in again."


def _watch_mark(page: Page) -> None:
    """`page` keeps the next sign-out mark another tab leaves (read by _mark_seen)."""
    page.evaluate(
        """() => { window.markSeen = new Promise((seen) => addEventListener("storage",
        (e) => e.key === "signedOutAt" && seen(e.newValue))); }"""
    )


def _mark_seen(page: Page) -> str:
    """The mark, once `page` has had its storage event (the page's own listener ran first)."""
    return str(page.evaluate("() => window.markSeen"))


def test_a_later_sign_out_elsewhere_is_not_why_the_session_ended(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """An end told without its reason (the server refused the session: it expired) takes a
    sign-out mark for its reason only if the mark came about when the end did. One seconds
    later is another session's sign-out (signed in again and out, in another tab): the mark
    says when, not which session."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    first = context.new_page()
    first_console = Console(first)
    sign_up(first, mesh, mail, "later-mark@example.com")
    second = context.new_page()
    second_console = Console(second)
    socket = RoutedSocket(second)
    second.goto(mesh.base_url)
    expect(second.locator("#user-email")).to_have_text("later-mark@example.com")
    expect(second.locator("#conn")).to_have_attribute("data-state", "live")

    socket.send({"type": "error", "code": "UNAUTHENTICATED", "message": "session not valid"})
    expect(second.locator("#signin-form")).to_be_visible()
    expect(second.locator("#signin-help")).to_have_text(ENDED)
    # Only a span of time makes the next sign-out a later one: past the 5 s (LATE_MARK_MS).
    second.wait_for_timeout(6_000)
    _watch_mark(second)
    first.locator("#logout").click()
    expect(first.locator("#signin-form")).to_be_visible()
    assert _mark_seen(second).isdigit()
    expect(second.locator("#signin-help")).to_have_text(ENDED)
    context.close()
    assert first_console.errors == [], first_console.errors
    assert second_console.errors == [], second_console.errors
