"""The mailer: sends the outbox of notifications.db through the operator's SMTP server
(docs/notifications.md).

How this works: one task, held by the node (node/notifications.py: `notifications_lifetime`),
reads the waiting rows whose time came (`mails_batch_max` at a time), writes each mail's text at
send time (so a name follows the names policy as it is then, and a member who took their address
away or turned the kind off meanwhile gets nothing), and sends it with the standard library's
smtplib in a thread, one connection per mail, bounded by `smtp_timeout_s`. The row is marked sent
in its own transaction only after the server accepted the mail: a crash between the two sends
that one mail again at the next start (at-least-once, which is what mail offers), and nothing
else is ever sent twice. A server that is down or answers 4xx is tried again after a backoff
(`retry_first_ms`, doubling up to `retry_max_ms`); after `mail_attempts_max` attempts, or at once
for a permanent refusal (5xx, a recipient refused), the row is given up with the error's class
recorded (never the address or the text). Without `smtp` in the config the task only waits.

A mail says the community's name and what happened, amounts in major units with the unit. It
carries no memo, no decision's or listing's text, and another member's name only where the names
policy lets the recipient see it.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from aiohttp import web
from tallystick.ledger.money import format_money
from tallystick.ledger.visibility import can_see, reader_for_key

from .home import SmtpConfig
from .notifications import Mail, Notice, NotificationStore

# Rows sent per pass: one at a time over the wire, a short batch between looks at the clock.
mails_batch_max = 20
# How long one mail may take end to end (connect, STARTTLS, login, send).
smtp_timeout_s = 20
# Attempts before a mail is given up: with the backoff below, about a day of a server down.
mail_attempts_max = 12
retry_first_ms = 1_000
retry_max_ms = 3 * 60 * 60 * 1000
# How long a sent, given-up or dropped row stays (the operator reads what happened), then goes.
outbox_done_kept_ms = 7 * 24 * 60 * 60 * 1000
# How long the mailer sleeps when nothing waits (a queued mail wakes it at once).
idle_wait_ms = 60_000


class PermanentMailError(Exception):
    """The server refused the mail for good (5xx): trying again would not help."""


def backoff_ms(attempts: int) -> int:
    """The wait after `attempts` failed attempts: 1 s, 2 s, 4 s, … up to `retry_max_ms`."""
    return min(retry_max_ms, retry_first_ms * 2 ** max(0, attempts - 1))


def mail_line(node: object, notice: Notice) -> str:
    """What happened, in one English line, as the recipient may read it."""
    from .app import Node

    assert isinstance(node, Node)
    state = node.sequencer.state
    community = state.community

    def money(minor: int | None) -> str:
        return format_money(minor or 0, community.unit_decimals, community.unit_code)

    recipient = state.members.get(notice.member)
    reader = reader_for_key(state, recipient.key) if recipient is not None else None
    other = None
    if notice.other is not None and reader is not None:
        member = state.members.get(notice.other)
        if member is not None and can_see(state, reader, "names", notice.other):
            other = node.directory.name(member)
    kind = notice.kind
    if kind == "payment_received":
        if notice.ref == "across":
            return f"You were paid {money(notice.amount_minor)} from another community"
        return f"{other} paid you {money(notice.amount_minor)}" if other else f"You were paid {money(notice.amount_minor)}"
    if kind == "payment_across_settled":
        return f"Your payment of {money(notice.amount_minor)} to another community arrived"
    if kind == "payment_across_returned":
        return f"Your payment of {money(notice.amount_minor)} to another community came back to you"
    if kind == "decision_opened":
        return f"A decision was opened (number {notice.ref}): read it and vote in your wallet"
    if kind == "decision_closing":
        return f"Decision number {notice.ref} closes within a day and you have not voted"
    if kind == "delegated":
        return f"{other} lets you vote for them" if other else "A member lets you vote for them"
    if kind == "offer_closed":
        if notice.detail == "allotted":
            return f"A share offer you subscribed to closed: {notice.units} units are yours"
        return "A share offer you subscribed to closed without enough subscriptions: your credit came back"
    if kind == "order_filled":
        verb = "bought" if notice.detail == "bought" else "sold"
        return f"Your order traded: you {verb} {notice.units} units for {money(notice.amount_minor)}"
    if kind == "dividend_paid":
        return f"You were paid a dividend of {money(notice.amount_minor)}"
    if kind == "listing_expiring":
        return "A listing of yours expires within three days: renew it in your wallet to keep it"
    if kind == "weekly_digest":
        listings = notice.units or 0
        decisions = int(notice.detail or 0)
        return (f"This week: {listings} new {'listing' if listings == 1 else 'listings'} in the market, "
                f"{decisions} {'decision' if decisions == 1 else 'decisions'} open")
    return "Something in your community concerns you: see your wallet"


def compose(node: object, notice: Notice, address: str, sender: str, public_url: str | None) -> EmailMessage:
    from .app import Node

    assert isinstance(node, Node)
    community = node.sequencer.state.community.name
    line = mail_line(node, notice)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = f"{community}: {line}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    where = f"{public_url.rstrip('/')}/wallet/inbox" if public_url else "your wallet's inbox"
    message.set_content(
        f"{line}.\n\nThis is {community}'s node telling you what concerns you. Read more in {where}.\n"
        "To stop these e-mails, turn them off in your wallet: More, Notifications.\n")
    return message


def send_now(config: SmtpConfig, message: EmailMessage) -> None:
    """Send one mail (in a thread: smtplib blocks). OSError or a 4xx: try again later;
    PermanentMailError: give up."""
    try:
        with smtplib.SMTP(config.host, config.port, timeout=smtp_timeout_s) as client:
            if config.starttls:
                client.starttls(context=ssl.create_default_context())
            if config.username is not None and config.password is not None:
                client.login(config.username, config.password)
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if all(code >= 500 for code in codes):
            raise PermanentMailError("recipient_refused") from None
        raise
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPAuthenticationError) as error:
        if error.smtp_code >= 500:
            raise PermanentMailError(type(error).__name__) from None
        raise


class Mailer:
    def __init__(self, app: web.Application, store: NotificationStore, config: SmtpConfig | None) -> None:
        self.app = app
        self.store = store
        self.config = config

    async def run(self) -> None:
        from .app import clock_ms

        while True:
            # Cleared before the outbox is read: a mail queued from here on wakes the wait below.
            self.store.mail_queued.clear()
            if self.config is not None:
                for mail in await self.store.mails_due(clock_ms(), mails_batch_max):
                    await self._send(mail)
                await self.store.purge_outbox(outbox_done_kept_ms, clock_ms())
            wait_ms = idle_wait_ms
            if self.config is not None:
                next_ms = await self.store.next_mail_ms()
                if next_ms is not None:
                    wait_ms = max(0, min(wait_ms, next_ms - clock_ms()))
                    if wait_ms == 0:
                        continue
            try:
                async with asyncio.timeout(wait_ms / 1000):
                    await self.store.mail_queued.wait()
            except TimeoutError:
                pass

    async def _send(self, mail: Mail) -> None:
        from .app import clock_ms, config_key, node_key

        assert self.config is not None
        node = self.app[node_key]
        settings = await self.store.settings_of(mail.notice.member)
        if settings.address is None or mail.notice.kind in settings.off:
            await self.store.mail_dropped(mail.id, clock_ms())
            return
        message = compose(node, mail.notice, settings.address, self.config.sender, self.app[config_key].public_url)
        try:
            await asyncio.to_thread(send_now, self.config, message)
        except PermanentMailError as error:
            await self.store.mail_failed(mail.id, str(error), None, clock_ms())
            return
        except (OSError, smtplib.SMTPException) as error:
            attempts = mail.attempts + 1
            next_ms = None if attempts >= mail_attempts_max else clock_ms() + backoff_ms(attempts)
            await self.store.mail_failed(mail.id, type(error).__name__, next_ms, clock_ms())
            return
        await self.store.mail_sent(mail.id, clock_ms())
