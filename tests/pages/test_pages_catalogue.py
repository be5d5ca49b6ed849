"""The pages' translation catalogue stays whole: pages.pot holds exactly the texts the templates and
node/pages/*.py mark for translation, each shipped language translates every one of them (not
fuzzy, with the same %(placeholders)s), no template writes a text outside the catalogue, and the
check that says so finds each kind of gap (node/pages/language.py, docs/pages.md "Languages"). No
browser, no node: the files as they are in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from tallystick.node.pages import language

node_root = language.locale_root.parent
translated_languages = [found for found in language.shipped_languages() if found != language.source_language]
# Words a template may write outside the catalogue: names and addresses that are the same in every language.
untranslated_words = {"API", "JSON", "Tallystick", "api", "metrics", "status", "enterprises", "payments",
                      "tally", "pay", "node", "key", "YOUR", "memo"}


def _template() -> Catalog:
    with (language.locale_root / "pages.pot").open("rb") as file:
        return read_po(file)


def test_english_and_spanish_are_shipped() -> None:
    assert language.shipped_languages() == ["en", "es"]


@pytest.mark.parametrize("shipped", translated_languages)
def test_every_text_of_the_pages_is_translated_with_the_same_placeholders(shipped: str) -> None:
    found = language.problems(_template(), language.read_catalogue(shipped))
    assert found == [], f"{shipped}/pages.po (run make catalogue, then translate):\n" + "\n".join(found)


def test_the_template_holds_exactly_the_texts_marked_in_the_pages() -> None:
    with (language.locale_root / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    marked = set()
    for folder in ("pages", "templates"):
        for _, _, message, _, _ in extract_from_dir(node_root / folder, method_map, options_map,
                                                    keywords={"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
                                                              "N_": None}):
            marked.add(message)
    held = {message.id for message in _template() if message.id}
    assert held == marked, "pages.pot is stale: run make catalogue"


@pytest.mark.parametrize("template", sorted((node_root / "templates").glob("*.html")), ids=lambda path: path.name)
def test_no_template_writes_a_text_outside_the_catalogue(template: Path) -> None:
    """What is left of a template without its styles, its translated texts, its expressions, its tags
    and its markup is only names that need no translation."""
    text = re.sub(r"<style>.*?</style>", "", template.read_text("utf-8"), flags=re.DOTALL)
    text = re.sub(r"\{%-? *trans\b.*?endtrans *-?%\}", "", text, flags=re.DOTALL)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.DOTALL)  # before the markup: an expression may hold a >
    text = re.sub(r"<[^>]*>", " ", text)
    assert set(re.findall(r"[A-Za-z][A-Za-z']+", text)) <= untranslated_words


def test_each_kind_of_gap_is_named() -> None:
    template = Catalog(locale="en")
    for text in ("Good %(name)s", "Missing", "Empty", "Fuzzy", "Pay %(amount)s"):
        template.add(text)
    template.add(("%(num)s member", "%(num)s members"))
    held = Catalog(locale="es")
    held.add("Good %(name)s", "Bien %(name)s")
    held.add("Empty", "")
    held.add("Fuzzy", "Difuso", flags=["fuzzy"])
    held.add("Pay %(amount)s", "Pagar %(importe)s")
    held.add(("%(num)s member", "%(num)s members"), ("%(num)s miembro", ""))
    held.add("Gone", "Ido")
    found = language.problems(template, held)
    assert found == [
        "'Missing': missing", "'Empty': not translated",
        "'Fuzzy': fuzzy (check the translation, then remove the fuzzy flag)",
        "'Pay %(amount)s': placeholders ['importe'] differ from the English's ['amount']",
        "'%(num)s member': not translated",
        "'Gone': not in pages.pot (run make catalogue to mark it obsolete)",
    ]
