"""Sends the sign-in link by SMTP, or, without SMTP_HOST, writes it to the log so a person
running the exchange locally can still sign in (SPEC section 2). Never in production: a
logged link is a working session for whoever reads the log, so there the settings refuse to
start without SMTP_HOST and this class refuses to log one.

smtplib runs in a worker thread: one short blocking exchange per sign-in request is cheaper
than another dependency. STARTTLS when SMTP_STARTTLS is on (the default once SMTP_USER is
set), implicit TLS on port 465, and a login when SMTP_USER is set.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mesh.config import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 15.0
IMPLICIT_TLS_PORT = 465


class MailError(Exception):
    """The link could not be handed to the SMTP server."""


def sign_in_message(sender: str, to: str, link: str, signup: bool) -> EmailMessage:
    """The mail differs between signup and signin only in wording."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if signup:
        message["Subject"] = "Welcome: confirm your e-mail to open your account"
        opening = "Thanks for signing up. Open this link to create your account and sign in:"
    else:
        message["Subject"] = "Your sign-in link"
        opening = "Open this link to sign in:"
    message.set_content(
        f"{opening}\n\n{link}\n\n"
        "The link works once and expires in 15 minutes. "
        "If you did not ask for it, ignore this e-mail.\n"
    )
    return message


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._sender = settings.smtp_from
        self._starttls = settings.smtp_starttls
        self._production = settings.production

    async def send_sign_in_link(self, to: str, link: str, signup: bool) -> None:
        if not self._host:
            if self._production:
                log.error("SMTP_HOST is not set in production: sign-in link for %s not sent", to)
                raise MailError("no SMTP server configured")
            log.warning("SMTP_HOST is not set: sign-in link for %s: %s", to, link)
            return
        message = sign_in_message(self._sender, to, link, signup)
        try:
            await asyncio.to_thread(self._send, message)
        except (smtplib.SMTPException, OSError) as exc:
            log.error("mail to %s via %s:%d failed: %r", to, self._host, self._port, exc)
            raise MailError(str(exc)) from exc
        log.info("sign-in link mailed to %s", to)

    def _send(self, message: EmailMessage) -> None:
        assert self._host is not None
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._port == IMPLICIT_TLS_PORT:
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=SMTP_TIMEOUT_S, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_S)
        with smtp:
            smtp.ehlo()
            if self._starttls and self._port != IMPLICIT_TLS_PORT:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._user:
                smtp.login(self._user, self._password or "")
            smtp.send_message(message)
