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

A mail says the community's name and what happened, in the member's language (their settings'
`language`, else the community's `default_language`; the text goes through Babel's gettext and the
`mails` catalogues under node/locale), amounts in major units with the unit as that language writes
numbers. It carries no memo, no decision's or listing's text, and another member's name only where
the names policy lets the recipient see it. A weekly digest names, besides its counts, the titles
of the new listings still on the market and of the decisions open (`digest_titles`, read at send
time): what every member may read in the market and every reader in the decisions.
"""

from __future__ import annotations

import asyncio
import email.policy
import functools
import io
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
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


# The mails' catalogues: English in this file, each other language's node/locale/<language>/LC_MESSAGES/
# mails.po (a domain of its own beside the pages' `pages`: `pybabel extract` of this file into
# node/locale/mails.pot, then `pybabel update --domain mails`; docs/notifications.md, "Languages").
locale_root = Path(__file__).resolve().parent / "locale"
domain = "mails"
source_language = "en"
# A mail's header line, at most: RFC 5322's hard limit, so that a subject is not folded (a folded
# subject with a word outside ASCII is unfolded by readers, Python's own too, with a doubled space).
header_line_chars_max = 998
mail_policy = email.policy.default.clone(max_line_length=header_line_chars_max)
# Titles a digest mail names, of each: new listings, decisions open. The rest are counted ("and 3 more").
digest_titles_named_max = 5


@functools.cache
def mail_languages() -> tuple[str, ...]:
    """English and every language with a mails catalogue, sorted (read once: they ship with the code)."""
    found = {path.parent.parent.name for path in locale_root.glob(f"*/LC_MESSAGES/{domain}.po")}
    return tuple(sorted({source_language} | found))


@functools.cache
def translations(language: str) -> NullTranslations:
    """The finished translations of `language`'s mails catalogue, compiled in memory once (the .po
    is the one source, as the pages' and the wallet's); English, or a language with no catalogue,
    is the text as written here. A fuzzy or untranslated entry stays English."""
    if language == source_language or language not in mail_languages():
        return NullTranslations()
    with (locale_root / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as file:
        catalogue = read_po(file, locale=language, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer, domain=domain)


def money_in(language: str, minor: int, decimals: int, unit: str) -> str:
    """An amount in major units with the unit, as `language` writes numbers: 5.00 HRS, 5,00 HRS."""
    major = Decimal(minor).scaleb(-decimals)
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return f"{format_decimal(major, format=pattern, locale=language, decimal_quantization=True)} {unit}"


@dataclass(frozen=True)
class DigestTitles:
    """What a weekly digest names: the titles of the new listings still on the market (newest first)
    and of the decisions open when it was written (soonest closing first), at most
    `digest_titles_named_max` each."""

    listings: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()


async def digest_titles(app: web.Application, notice: Notice) -> DigestTitles:
    """The titles digest `notice` names, read now (for its mail, or the inbox): the listings listed
    in its windows up to when it was written that are still on the market (one withdrawn, hidden or
    expired since is not named), and the decisions open then. Every member reads the live listings
    and every reader the decisions' titles (one erased is not named)."""
    from .app import config_key, node_key
    from .http.listings import on_the_market
    from .listings import listings_key

    node = app[node_key]
    state = node.sequencer.state
    interval_ms = app[config_key].digest_interval_ms
    # The digest's seq is its window's end; it counts what was listed since the window before began.
    since_ms = notice.seq - 2 * interval_ms
    written_ms = notice.created_ms
    listings = app.get(listings_key)
    titles: list[str] = []
    if listings is not None:
        from .app import clock_ms

        found, _ = await listings.search(
            now_ms=clock_ms(), active=lambda listing: on_the_market(state, listing), text=None, category=None,
            place=None, kind=None, before=(written_ms + 1, ""), limit=digest_titles_named_max)
        titles = [listing.title for listing in found if listing.listed_ms > since_ms]
    open_then = sorted((decision for decision in state.decisions.values()
                        if decision.opened_ms <= written_ms < decision.deadline_ms), key=lambda d: d.deadline_ms)
    decisions: list[str] = []
    for decision in open_then:
        title = node.directory.text(decision.title)  # None: erased
        if title:
            decisions.append(title)
        if len(decisions) == digest_titles_named_max:
            break
    return DigestTitles(tuple(titles), tuple(decisions))


def mail_line(node: object, notice: Notice, language: str = source_language) -> str:
    """What happened, in one line in `language`, as the recipient may read it."""
    from .app import Node

    assert isinstance(node, Node)
    catalogue = translations(language)
    _ = catalogue.gettext
    ngettext = catalogue.ngettext
    state = node.sequencer.state
    community = state.community

    def money(minor: int | None) -> str:
        return money_in(language, minor or 0, community.unit_decimals, community.unit_code)

    recipient = state.members.get(notice.member)
    reader = reader_for_key(state, recipient.key) if recipient is not None else None
    other = None
    if notice.other is not None and reader is not None:
        member = state.members.get(notice.other)
        if member is not None and can_see(state, reader, "names", notice.other):
            other = node.directory.name(member)
    amount = money(notice.amount_minor)
    kind = notice.kind
    if kind == "payment_received":
        if notice.ref == "across":
            return _("You were paid {amount} from another community").format(amount=amount)
        if other:
            return _("{name} paid you {amount}").format(name=other, amount=amount)
        return _("You were paid {amount}").format(amount=amount)
    if kind == "payment_across_settled":
        return _("Your payment of {amount} to another community arrived").format(amount=amount)
    if kind == "payment_across_returned":
        return _("Your payment of {amount} to another community came back to you").format(amount=amount)
    if kind == "decision_opened":
        return _("A decision was opened (number {number}): read it and vote in your wallet").format(number=notice.ref)
    if kind == "decision_closing":
        return _("Decision number {number} closes within a day and you have not voted").format(number=notice.ref)
    if kind == "delegated":
        if other:
            return _("{name} lets you vote for them").format(name=other)
        return _("A member lets you vote for them")
    if kind == "offer_closed":
        if notice.detail == "allotted":
            units = notice.units or 0
            return ngettext("A share offer you subscribed to closed: {units} unit is yours",
                            "A share offer you subscribed to closed: {units} units are yours", units).format(units=units)
        return _("A share offer you subscribed to closed without enough subscriptions: your credit came back")
    if kind == "order_filled":
        units = notice.units or 0
        if notice.detail == "bought":
            return ngettext("Your order traded: you bought {units} unit for {amount}",
                            "Your order traded: you bought {units} units for {amount}", units).format(
                units=units, amount=amount)
        return ngettext("Your order traded: you sold {units} unit for {amount}",
                        "Your order traded: you sold {units} units for {amount}", units).format(units=units, amount=amount)
    if kind == "dividend_paid":
        return _("You were paid a dividend of {amount}").format(amount=amount)
    if kind == "listing_expiring":
        return _("A listing of yours expires within three days: renew it in your wallet to keep it")
    if kind == "weekly_digest":
        listings = notice.units or 0
        decisions = int(notice.detail or 0)
        new = ngettext("{count} new listing in the market", "{count} new listings in the market", listings).format(
            count=listings)
        open_ = ngettext("{count} decision open", "{count} decisions open", decisions).format(count=decisions)
        return _("This week: {listings}, {decisions}").format(listings=new, decisions=open_)
    return _("Something in your community concerns you: see your wallet")


def _titled(heading: str, titles: tuple[str, ...], counted: int, more: Callable[[int], str]) -> str:
    """A heading and one line per title, and how many more were counted than named."""
    lines = [heading, *(f"- {title}" for title in titles)]
    if counted > len(titles):
        lines.append(more(counted - len(titles)))
    return "\n".join(lines) + "\n\n"


def compose(node: object, notice: Notice, address: str, sender: str, public_url: str | None,
            language: str = source_language, digest: DigestTitles | None = None) -> EmailMessage:
    from .app import Node

    assert isinstance(node, Node)
    catalogue = translations(language)
    _ = catalogue.gettext
    ngettext = catalogue.ngettext
    community = node.sequencer.state.community.name
    line = mail_line(node, notice, language)
    message = EmailMessage(policy=mail_policy)
    message["From"] = sender
    message["To"] = address
    message["Subject"] = f"{community}: {line}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["Content-Language"] = language
    where = f"{public_url.rstrip('/')}/wallet/inbox" if public_url else _("your wallet's inbox")
    named = ""
    if digest is not None:
        # A listing named may have gone since it was counted, and one counted may not be named.
        if digest.listings:
            named += _titled(_("New in the market:"), digest.listings, notice.units or 0,
                             lambda left: ngettext("and {count} more", "and {count} more", left).format(count=left))
        if digest.decisions:
            named += _titled(_("Decisions open:"), digest.decisions, int(notice.detail or 0),
                             lambda left: ngettext("and {count} more", "and {count} more", left).format(count=left))
    message.set_content(
        f"{line}.\n\n{named}"
        + _("This is {community}'s node telling you what concerns you. Read more in {where}.").format(
            community=community, where=where) + "\n"
        + _("To stop these e-mails, turn them off in your wallet: More, Notifications.") + "\n")
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
        config = self.app[config_key]
        language = settings.language or config.default_language
        digest = await digest_titles(self.app, mail.notice) if mail.notice.kind == "weekly_digest" else None
        message = compose(node, mail.notice, settings.address, self.config.sender, config.public_url, language, digest)
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
