"""Signing out, in real Chromium against the real mesh, with two tabs of one browser sharing
the session: a sign-out the server could not record keeps the trader signed in, in every tab;
the tab that signs out never tells itself "Signed out in another tab"; and a tab says so only
for the sign-out that ended its session, never for a later one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.steps import OUTAGE_NOISE, Console, RoutedSocket, sign_up
from tests.e2e.harness import MailCatcher, Mesh
from tests.polling import poll

ENDED = "Your session has ended: sign in again."
ELSEWHERE = re.compile(r"^Signed out in another tab or window at \d\d:\d\d:\d\d\.$")
LOGOUT = "**/api/v1/user/logout"
# The gateway's answer when it cannot store the revocation (routes_user.SIGN_OUT_FAILED).
NOT_RECORDED = "sign-out could not be recorded, so the session is still valid: try again"
# What the gateway's socket says of a session it refuses (revoked, expired).
REFUSED = {"type": "error", "code": "UNAUTHENTICATED", "message": "session not valid"}


class Tabs:
    """Two tabs of one browser signed in to one session; the second's socket goes through
    the test."""

    def __init__(self, browser: Any, mesh: Mesh, mail: MailCatcher, email: str) -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.first = self.context.new_page()
        self.consoles = [Console(self.first)]
        sign_up(self.first, mesh, mail, email)
        self.second = self.context.new_page()
        self.consoles.append(Console(self.second))
        self.socket = RoutedSocket(self.second)
        self.second.goto(mesh.base_url)
        expect(self.second.locator("#user-email")).to_have_text(email)
        expect(self.second.locator("#conn")).to_have_attribute("data-state", "live")

    def close(self) -> None:
        self.context.close()
        for console in self.consoles:
            assert console.errors == [], console.errors


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
    sign-out mark for its reason only if the mark came about when the end did. A mark seconds
    later is another session's sign-out (signed in again and out, in another tab): the mark
    says when, not which session."""
    tabs = Tabs(browser, mesh, mail, "later-mark@example.com")
    first, second = tabs.first, tabs.second
    tabs.socket.send(REFUSED)
    expect(second.locator("#signin-form")).to_be_visible()
    expect(second.locator("#signin-help")).to_have_text(ENDED)
    # Only a span of time makes the next sign-out a later one: past the 5 s (LATE_MARK_MS).
    second.wait_for_timeout(6_000)
    _watch_mark(second)
    first.locator("#logout").click()
    expect(first.locator("#signin-form")).to_be_visible()
    assert _mark_seen(second).isdigit()
    expect(second.locator("#signin-help")).to_have_text(ENDED)
    tabs.close()


def test_a_sign_out_the_server_could_not_record_keeps_every_tab_signed_in(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """The logout fails closed: a revocation the server cannot store is an error, and the
    session stays valid. The tab says so and stays signed in; the other tabs learn nothing,
    since the mark is left only once the server has signed the session out."""
    tabs = Tabs(browser, mesh, mail, "not-recorded@example.com")
    first, second = tabs.first, tabs.second

    body = json.dumps({"error": NOT_RECORDED, "code": "ENGINE_UNAVAILABLE"})
    first.route(LOGOUT, lambda route: route.fulfill(status=503, body=body))
    tabs.consoles[0].allowed = OUTAGE_NOISE  # the 503
    first.locator("#logout").click()
    expect(first.locator(".notice.bad")).to_have_text(re.compile(f"Not signed out: {NOT_RECORDED}"))
    expect(first.locator("#user-email")).to_have_text("not-recorded@example.com")
    assert first.evaluate("() => localStorage.getItem('signedOutAt')") is None
    expect(second.locator("#user-email")).to_be_visible()
    expect(second.locator("#signin-help")).to_be_hidden()

    # --- tried again, it goes through: the other tab is told ---
    first.unroute(LOGOUT)
    first.locator("#logout").click()
    expect(first.locator("#signin-form")).to_be_visible()
    expect(first.locator("#signin-help")).to_be_hidden()
    expect(second.locator("#signin-help")).to_have_text(ELSEWHERE)
    tabs.close()


def test_the_tab_that_signs_out_never_says_another_tab_did(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """The server refuses the revoked session on the tab's own socket, which can come before
    the logout's answer: the tab's end is its own, and needs no reason."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    console = Console(page)
    socket = RoutedSocket(page)
    sign_up(page, mesh, mail, "own-end@example.com")
    held: list[Any] = []
    page.route(LOGOUT, lambda route: held.append(route))  # answered after the refusal
    page.locator("#logout").click()
    while not held:
        page.wait_for_timeout(50)
    socket.send(REFUSED)
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#signin-help")).to_be_hidden()
    held[0].continue_()
    expect(page.locator("#user-email")).to_have_text("")
    page.wait_for_function("() => localStorage.getItem('signedOutAt') !== null")
    expect(page.locator("#signin-help")).to_be_hidden()
    context.close()
    assert console.errors == [], console.errors


def test_signing_in_again_in_one_tab_signs_the_others_in(
    browser: Any, mesh: Mesh, mail: MailCatcher
) -> None:
    """Signed out in one tab, both show the sign-in form; signed in again there (here as
    someone else), the other tab shares the new cookie and joins that session by itself, with
    its user's address and without the old banner (it showed the form until reloaded)."""
    tabs = Tabs(browser, mesh, mail, "before@example.com")
    first, second = tabs.first, tabs.second
    first.locator("#logout").click()
    expect(second.locator("#signin-help")).to_have_text(ELSEWHERE)
    second.evaluate("() => { window.notReloaded = true; }")
    after = "after@example.com"
    sent = len(mail.messages)
    first.fill("#email", after)
    first.locator('#signin-form button[data-mode="signup"]').click()
    poll(lambda: len(mail.messages) > sent, timeout_s=20, what="the new sign-in mail")
    first.goto(mail.link_for(after), wait_until="commit")
    expect(first.locator("#user-email")).to_have_text(after)
    expect(second.locator("#user-email")).to_have_text(after)
    expect(second.locator("#signin-form")).to_be_hidden()
    expect(second.locator("#signin-help")).to_be_hidden()
    expect(second.locator("#conn")).to_have_attribute("data-state", "live")
    assert second.evaluate("() => window.notReloaded") is True
    tabs.close()
