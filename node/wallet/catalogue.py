"""The wallet's translation catalogue: strings.js's English texts, one gettext catalogue per language
(docs/wallet.md, "Languages").

How this works: static/strings.js holds every text the wallet shows, by message id, in English, one
entry a line (`"id": "English text",`). `read_strings` reads those lines and refuses one it cannot
read (a text the extractor skipped would silently never be translated). `extract` is a Babel
extraction method over them: each entry is a message whose context (msgctxt) is the id and whose
msgid is the English, so a translator reads the English, and two ids with the same English stay two
messages. `make catalogue` runs `pybabel extract` with it (locale/babel.cfg) into locale/wallet.pot
and `pybabel update` into each locale/<language>/LC_MESSAGES/wallet.po. When the node loads the
wallet, `compiled` turns each .po into what the browser reads ({id: text}, served as
static/locale/<language>.json), keeping only translations that are finished (not fuzzy), of the
English strings.js holds now, with the same {placeholders}: whatever it leaves out, the wallet shows
in English. `problems` names what it left out, for the test that keeps every catalogue complete.
English is strings.js itself and has no catalogue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

package_root = Path(__file__).resolve().parent
strings_path = package_root / "static" / "strings.js"
locale_root = package_root / "locale"
domain = "wallet"
source_language = "en"

# One entry of strings.js's dictionary: the id and a JSON-compatible double-quoted text.
_entry = re.compile(r'^\s*"(?P<id>[a-z0-9_.\- ]+)": (?P<text>"(?:[^"\\]|\\.)*"),\s*$')
_opening = "export const strings = {"
_closing = "};"
_placeholder = re.compile(r"\{(\w+)\}")
# A language's folder name: a BCP 47 primary subtag (what <html lang> and Intl take).
_language_name = re.compile(r"^[a-z]{2,3}$")


class CatalogueError(ValueError):
    """strings.js has a line the extractor cannot read: our bug, fixed in strings.js."""


def read_strings(source: str) -> dict[str, tuple[int, str]]:
    """The dictionary of strings.js: id -> (line number, English text)."""
    lines = source.splitlines()
    try:
        start = lines.index(_opening)
        end = lines.index(_closing, start)
    except ValueError:
        raise CatalogueError(f"strings.js has no {_opening!r} ... {_closing!r} block") from None
    strings: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(lines[start + 1:end], start=start + 2):
        if not line.strip() or line.strip().startswith("//"):
            continue
        matched = _entry.match(line)
        if matched is None:
            raise CatalogueError(f'strings.js line {number} is not one `"id": "text",` entry: {line.strip()[:60]}')
        if matched["id"] in strings:
            raise CatalogueError(f"strings.js line {number}: {matched['id']} is there twice")
        try:
            strings[matched["id"]] = (number, json.loads(matched["text"]))
        except json.JSONDecodeError:
            raise CatalogueError(f"strings.js line {number}: write the text with JSON's escapes only") from None
    return strings


def english() -> dict[str, str]:
    return {message_id: text for message_id, (_, text) in read_strings(strings_path.read_text("utf-8")).items()}


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """Babel's extraction-method interface: each entry as a `pgettext(id, English)` call, which
    Babel's default keywords read as context and message."""
    for message_id, (line, text) in read_strings(fileobj.read().decode("utf-8")).items():
        yield line, "pgettext", (message_id, text), []


def placeholders(text: str) -> list[str]:
    return sorted(_placeholder.findall(text))


def shipped_languages() -> list[str]:
    """English and every language with a catalogue under locale/, sorted."""
    found = {path.parent.parent.name for path in locale_root.glob(f"*/LC_MESSAGES/{domain}.po")}
    return sorted({source_language} | {name for name in found if _language_name.match(name)})


def read_catalogue(language: str) -> Catalog:
    with (locale_root / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as file:
        return read_po(file, locale=language, domain=domain)


def _translation(message: Any) -> str:
    return message.string if isinstance(message.string, str) else ""


def problems(strings: dict[str, str], catalogue: Catalog) -> list[str]:
    """Each way `catalogue` falls short of `strings`: an id it lacks, untranslated or fuzzy, a
    translation of other English than strings.js's, {placeholders} unlike the English's, and an
    entry for an id strings.js no longer has (unless marked obsolete)."""
    found: list[str] = []
    held = {message.context: message for message in catalogue if message.id and message.context}
    for message_id, text in strings.items():
        message = held.get(message_id)
        if message is None:
            found.append(f"{message_id}: missing")
        elif message.id != text:
            found.append(f"{message_id}: translates {message.id!r}, but the English is now {text!r}")
        elif not _translation(message):
            found.append(f"{message_id}: not translated")
        elif message.fuzzy:
            found.append(f"{message_id}: fuzzy (check the translation, then remove the fuzzy flag)")
        elif placeholders(_translation(message)) != placeholders(text):
            found.append(f"{message_id}: placeholders {placeholders(_translation(message))} differ from the English's "
                         f"{placeholders(text)}")
    found.extend(f"{message_id}: not in strings.js (run make catalogue to mark it obsolete)"
                 for message_id in held if message_id not in strings)
    return found


def compiled(strings: dict[str, str], catalogue: Catalog) -> dict[str, str]:
    """What the browser reads: id -> translation, for every finished translation of the English
    strings.js holds now whose placeholders match it."""
    result: dict[str, str] = {}
    for message in catalogue:
        message_id = message.context
        if not message.id or message_id not in strings or message.id != strings[message_id] or message.fuzzy:
            continue
        translation = _translation(message)
        if translation and placeholders(translation) == placeholders(strings[message_id]):
            result[message_id] = translation
    return result
