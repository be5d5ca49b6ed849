"""The language of a page: English and each language with a `pages` catalogue under node/locale/,
chosen per request from the browser's `Accept-Language`, the community's `default_language` when
it asks for none the node ships (docs/pages.md, "Languages").

How this works: every text a page shows is English in the templates (`{% trans %}`, `_()`) and
in the Python that writes page text (describe.py's `_`). `make catalogue` extracts them with
Babel (node/locale/babel.cfg: Python, and Jinja's `jinja2.ext:babel_extract`) into
node/locale/pages.pot and updates each node/locale/<language>/LC_MESSAGES/pages.po. When this module
is imported, each .po is read with Babel and compiled in memory (no .mo file is kept in git: the
.po is the one source, as the wallet's, node/wallet/catalogue.py); a fuzzy or untranslated entry is
left out, so the page shows its English. One Jinja2 environment per language holds that language's
translations, so a request never sees another's: nothing is installed globally. The Python text
(describe.py) reads the request's language from a context variable that `language_of` sets; each
page handler calls it (through `frame_for`) before it writes any text, and aiohttp runs a request
in its connection's task, so the variable is the request's own for as long as the handler runs.

Numbers, amounts, times and durations are written in the page's language too, with Babel and the
language's CLDR data: `money` ('1,234.50 HRS', '1.234,50 HRS'), `when` ('Dec 3, 2026, 5:47:18 PM
UTC', '3 dic 2026, 17:47:18 UTC'), `time_left` ('in 3 days', 'dentro de 3 días') and `ago` ('3
minutes ago', 'hace 3 minutos'); each takes the language, the request's by default, and each
environment's filters are bound to its own. What a person copies to type elsewhere (the pay-me
link, the `tally … pay` command) keeps the protocol's form ('1234.50').
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel.core import negotiate_locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, parse_decimal
from babel.support import NullTranslations, Translations
from tallystick.protocol import limits

from ..app import config_key

locale_root = Path(__file__).resolve().parent.parent / "locale"
domain = "pages"
source_language = "en"
# Languages read from one Accept-Language header: a browser sends a few; more are ignored.
accept_language_entries_max = 16
accept_language_chars_max = 512

_language_key = web.RequestKey("page_language", str)  # where a request keeps the language chosen for it


def read_catalogue(language: str) -> Catalog:
    with (locale_root / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as file:
        return read_po(file, locale=language, domain=domain)


def shipped_languages() -> list[str]:
    """English and every language with a pages catalogue, sorted."""
    found = {path.parent.parent.name for path in locale_root.glob(f"*/LC_MESSAGES/{domain}.po")}
    return sorted({source_language} | found)


def _compiled(catalogue: Catalog) -> NullTranslations:
    """The catalogue's finished translations (fuzzy ones left out: write_mo's default)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer, domain=domain)


def N_(message: str) -> str:
    """Marks a text for the catalogue where it is written; `gettext` translates it where it is shown."""
    return message


# Words for values the protocol names (a decision's outcome, a ballot's position), as people read them.
outcome_words = {
    "passed": N_("passed"), "rejected": N_("rejected"), "blocked": N_("blocked"), "no_quorum": N_("no quorum"),
    "effect_refused": N_("effect refused"), "below_floor": N_("below floor"),
}
position_words = {"agree": N_("agree"), "abstain": N_("abstain"), "disagree": N_("disagree"), "block": N_("block")}
# The states of a payment across (federation/payments.py), and why a community refused one
# (protocol/federation.py `PaymentRejectReason`).
# (In the context "payment": a payment's words agree with it, not with a decision's.)
def payment_status_words(found: NullTranslations) -> dict[str, str]:
    return {
        "pending": found.pgettext("payment", "pending"), "accepted": found.pgettext("payment", "accepted"),
        "settled": found.pgettext("payment", "settled"), "rejected": found.pgettext("payment", "rejected"),
        "returned": found.pgettext("payment", "returned"), "expired": found.pgettext("payment", "expired"),
    }


def reject_reason_words(found: NullTranslations) -> dict[str, str]:
    return {
        "unknown_member": found.pgettext("payment", "no such member"),
        "account_closed": found.pgettext("payment", "account closed"),
        "credit_ceiling": found.pgettext("payment", "past the payee's credit ceiling"),
        "trade_limit": found.pgettext("payment", "past a limit of trade"),
        "capacity": found.pgettext("payment", "past the federation's room for trade"),
        "expired": found.pgettext("payment", "expired"), "cancelled": found.pgettext("payment", "cancelled"),
        "refused": found.pgettext("payment", "refused"),
    }


# The size of a bucket of the federation's trade plot (federation/charts.py `trade_bucket_sizes_ms`).
bucket_words = {"minute": N_("minute"), "hour": N_("hour"), "day": N_("day"), "week": N_("week")}


def word_for(words: dict[str, str], value: str | None) -> str:
    """`value` in words in the request's language (its own name, underscores as spaces, if unknown)."""
    if value is None:
        return ""
    found = words.get(value)
    return gettext(found) if found is not None else value.replace("_", " ")


def _environment(language: str, translations: NullTranslations) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tallystick.node", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["time"] = functools.partial(when, language=language)
    environment.filters["time_left"] = functools.partial(time_left, language=language)
    environment.filters["ago"] = functools.partial(ago, language=language)
    environment.filters["number"] = functools.partial(number, language=language)
    # Amounts the federation layer wrote in the protocol's form, in this language (`relocalized`).
    environment.filters["money"] = functools.partial(relocalized, language=language)
    environment.globals["money_row"] = functools.partial(relocalized_row, language=language)
    # In the environment's own language, not the context variable's: the template is that language's.
    environment.globals["language"] = language  # <html lang>, for a template rendered without a page's frame
    for name, words in (("outcome_words", outcome_words), ("position_words", position_words),
                        ("bucket_words", bucket_words)):
        environment.globals[name] = {key: translations.gettext(text) for key, text in words.items()}
    environment.globals["payment_status_words"] = payment_status_words(translations)
    environment.globals["reject_reason_words"] = reject_reason_words(translations)
    # A text written by code that does not translate (the federation layer's), translated where shown.
    environment.globals["translated"] = functools.partial(gettext_in, language)
    return environment


def gettext_in(language: str, message: str, **values: Any) -> str:
    """`message` in `language`, with `values` put into its %(name)s placeholders."""
    text = translations[language].gettext(message)
    return text % values if values else text


def current_language() -> str:
    """The language of the request being answered (`language_of` chose it); English outside one."""
    return _current.get()


# ---- numbers, amounts, times and durations in a language ---------------------------------------


def _decimals_pattern(decimals: int) -> str:
    """A CLDR pattern with grouping and exactly `decimals` decimals: '#,##0.00'. Grouping is written
    as the pattern says, so Spanish groups four digits too ('1.234,50')."""
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def number(value: float | Decimal, language: str | None = None) -> str:
    """A plain number (a percent, a rate) as the language writes it: 66.67 -> '66,67' in Spanish."""
    return format_decimal(value, locale=language or current_language())


def plain_money(minor: int, decimals: int, language: str | None = None) -> str:
    """An amount without its unit (an axis label): 123450 -> '1,234.50' in English, '1.234,50' in Spanish."""
    return format_decimal(Decimal(minor).scaleb(-decimals), format=_decimals_pattern(decimals),
                          locale=language or current_language())


def money(minor: int, decimals: int, unit: str, language: str | None = None) -> str:
    """An amount as a person reads it, in the language, with the unit's code: '1,234.50 HRS',
    '1.234,50 HRS'. Zero is never signed."""
    return f"{plain_money(minor, decimals, language)} {unit}"


def debit_floor(limit_minor: int, decimals: int, unit: str, language: str | None = None) -> str:
    """The lowest balance a debit limit allows: 10000 -> '-100.00 HRS'; 0 -> '0.00 HRS'."""
    return money(-limit_minor, decimals, unit, language)


def ceiling(ceiling_minor: int, decimals: int, unit: str, language: str | None = None) -> str:
    """A credit ceiling: '500.00 HRS', or 'no ceiling' for the largest amount the protocol carries."""
    if ceiling_minor >= limits.amount_minor_max:
        return gettext_in(language or current_language(), "no ceiling")
    return money(ceiling_minor, decimals, unit, language)


_protocol_money = re.compile(r"(-?)(\d+)(?:\.(\d+))? (\S+)")


def relocalized(text: str | None, language: str | None = None) -> str:
    """An amount the federation layer wrote in the protocol's form ('-1234.50 HRS', ledger/money.py's
    `format_money`) in the language ('-1.234,50 HRS'); any other text it writes where an amount
    goes ('unknown', 'no ceiling') translated by the catalogue (federation_texts, below)."""
    if text is None:
        return ""
    found = _protocol_money.fullmatch(text)
    if found is None:
        return gettext_in(language or current_language(), text)
    sign, whole, fraction, unit = found.groups()
    decimals = len(fraction or "")
    minor = int(whole + (fraction or "")) * (-1 if sign else 1)
    return money(minor, decimals, unit, language)


def relocalized_row(row: dict[str, Any], language: str | None = None) -> dict[str, Any]:
    """A row of the federation layer's (a balance, its lowest and highest allowed) in the language."""
    return {**row, **{key: relocalized(row[key], language) for key in ("balance", "debit_floor", "credit_ceiling")
                      if key in row}}


# What the federation layer (federation/pages.py, federation/charts.py) writes in English where
# the pages show it: translated where shown (`relocalized`, and the templates' `_(…)` of a value).
federation_texts = (
    N_("unknown"), N_("no ceiling"), N_("amount unknown here (that community's ledger is not held by this node)"),
    N_("This node's view holds no federation called"),
)


def when(ms: int, language: str | None = None) -> str:
    """A moment, in UTC, as the language writes a date and a time: 'Dec 3, 2026, 5:47:18 PM UTC',
    '3 dic 2026, 17:47:18 UTC' (the node does not know the reader's time zone)."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return format_datetime(moment, "medium", tzinfo=datetime.UTC, locale=language or current_language()) + " UTC"


def time_left(ms: int, language: str | None = None) -> str:
    """How long until something closes, as the language says it: 'in 3 days', 'dentro de 3 días'
    (rounded to its largest unit, as people say it)."""
    return format_timedelta(datetime.timedelta(milliseconds=max(0, ms)), add_direction=True,
                            locale=language or current_language())


def ago(ms: int, language: str | None = None) -> str:
    """How long ago: '3 minutes ago', 'hace 3 minutos'."""
    return format_timedelta(datetime.timedelta(milliseconds=-max(0, ms)), add_direction=True,
                            locale=language or current_language())


def amount_typed(text: str, decimals: int, language: str | None = None) -> tuple[int | None, str | None]:
    """An amount a person typed in a page's form, in the protocol's form ('12.50') or in the
    language's ('12,50', '1.234,50' in Spanish), as minor units; or None and what to do, in the
    language. The same rules as ledger/money.py `parse_amount`."""
    language = language or current_language()
    cleaned = text.strip().replace("_", "")
    example = plain_money(1250, decimals, language) if decimals else "12"
    value: Decimal | None = None
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        value = Decimal(cleaned)
    else:
        try:
            value = parse_decimal(cleaned, locale=language, strict=True)
        except (ValueError, ArithmeticError):  # NumberFormatError, or a number Decimal cannot hold
            value = None
    if value is not None and value.is_finite() and value.copy_abs() > limits.amount_minor_max:
        return None, gettext_in(language, N_("%(text)s is larger than the largest amount the protocol carries"),
                                text=text.strip())
    if value is None or not value.is_finite():
        return None, gettext_in(language, N_("%(text)s is not an amount; write it like %(example)s"),
                                text=text.strip(), example=example)
    minor = value.scaleb(decimals)
    if minor != minor.to_integral_value():
        return None, gettext_in(language, N_("%(text)s has more decimals than this unit has (%(decimals)s)"),
                                text=text.strip(), decimals=decimals)
    if minor <= 0:
        return None, gettext_in(language, N_("%(text)s: an amount must be greater than zero"), text=text.strip())
    if minor > limits.amount_minor_max:
        return None, gettext_in(language, N_("%(text)s is larger than the largest amount the protocol carries"),
                                text=text.strip())
    return int(minor), None


translations: dict[str, NullTranslations] = {source_language: NullTranslations()}
for _language in shipped_languages():
    if _language != source_language:
        translations[_language] = _compiled(read_catalogue(_language))
environments = {language: _environment(language, found) for language, found in translations.items()}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("page_language", default=source_language)


def preferred_languages(header: str) -> list[str]:
    """The languages of an Accept-Language header, most wanted first (q=0 and '*' left out)."""
    weighted: list[tuple[float, int, str]] = []
    for index, entry in enumerate(header[:accept_language_chars_max].split(",")[:accept_language_entries_max]):
        tag, _, parameters = entry.strip().partition(";")
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        tag = tag.strip()
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiated(header: str, default: str) -> str:
    """The shipped language the header asks for first (by Babel's `negotiate_locale`: 'es-AR'
    reads as 'es'), else `default`."""
    shipped = list(translations)
    found = negotiate_locale(preferred_languages(header), shipped, sep="-")
    if found is None:  # a tag with a territory whose language alone is shipped ("es-419")
        for tag in preferred_languages(header):
            if tag.split("-")[0].lower() in shipped:
                return tag.split("-")[0].lower()
        return default
    return found.lower()


def language_of(request: web.Request) -> str:
    """The request's language, chosen once and kept on the request; from here on the Python that
    writes its page text (`gettext`) writes it in that language."""
    language = request.get(_language_key)
    if language is None:
        config = request.app.get(config_key)
        default = config.default_language if config is not None else source_language
        if default not in translations:
            default = source_language
        language = negotiated(request.headers.get("Accept-Language", ""), default)
        request[_language_key] = language
    _current.set(language)
    return language


def gettext(message: str, **values: Any) -> str:
    """`message` in the request's language, with `values` put into its %(name)s placeholders."""
    return gettext_in(_current.get(), message, **values)


def reject_reason(reason: str) -> str:
    """Why a community refused a payment across, in the request's language."""
    return reject_reason_words(translations[_current.get()]).get(reason, reason.replace("_", " "))


def use_language(language: str) -> None:
    """Write the Python text of what is rendered from here on in `language` (html_page calls it)."""
    _current.set(language)


def ngettext(singular: str, plural: str, count: int, **values: Any) -> str:
    text = translations[_current.get()].ngettext(singular, plural, count)
    return text % {"num": count, **values}


_placeholder = re.compile(r"%\((\w+)\)s")


def _forms(text: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if text is None:
        return []
    return [text] if isinstance(text, str) else list(text)


def placeholders(text: str | tuple[str, ...] | list[str] | None) -> set[str]:
    return {name for form in _forms(text) for name in _placeholder.findall(form)}


def problems(template: Catalog, catalogue: Catalog) -> list[str]:
    """Each way `catalogue` falls short of `template` (pages.pot): a text it lacks, untranslated
    (any plural form empty) or fuzzy, %(placeholders)s unlike the English's, and an entry for a text
    the template no longer has (unless marked obsolete). What it names, the pages show in English."""
    found: list[str] = []
    for wanted in template:
        if not wanted.id:
            continue
        key = _forms(wanted.id)[0]
        message = catalogue.get(wanted.id, wanted.context)
        if message is None:
            found.append(f"{key!r}: missing")
        elif not _forms(message.string) or not all(_forms(message.string)):
            found.append(f"{key!r}: not translated")
        elif message.fuzzy:
            found.append(f"{key!r}: fuzzy (check the translation, then remove the fuzzy flag)")
        elif placeholders(message.string) != placeholders(wanted.id):
            found.append(f"{key!r}: placeholders {sorted(placeholders(message.string))} differ from the English's "
                         f"{sorted(placeholders(wanted.id))}")
    found.extend(f"{_forms(message.id)[0]!r}: not in pages.pot (run make catalogue to mark it obsolete)"
                 for message in catalogue if message.id and template.get(message.id, message.context) is None)
    return found
