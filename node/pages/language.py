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
"""

from __future__ import annotations

import contextvars
import io
import re
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel.core import negotiate_locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from tallystick.ledger.money import format_duration

from ..app import config_key
from . import charts

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
    environment.filters["duration"] = format_duration
    environment.filters["time"] = charts.format_time
    # In the environment's own language, not the context variable's: the template is that language's.
    environment.globals["language"] = language  # <html lang>, for a template rendered without a page's frame
    environment.globals["outcome_words"] = {key: translations.gettext(text) for key, text in outcome_words.items()}
    environment.globals["position_words"] = {key: translations.gettext(text) for key, text in position_words.items()}
    return environment


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
    text = translations[_current.get()].gettext(message)
    return text % values if values else text


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
