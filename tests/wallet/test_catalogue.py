"""The wallet's translation catalogue stays whole: every text of strings.js is in the template and
translated in every shipped language with the same {placeholders}, nothing is translated that
strings.js no longer has, and the checks that say so find each kind of gap (node/wallet/catalogue.py,
docs/wallet.md "Languages"). No browser, no node: the files as they are in the repository."""

from __future__ import annotations

import io

import msgspec
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract as babel_extract
from babel.messages.pofile import read_po
from tallystick.node.home import NodeConfig
from tallystick.node.wallet import catalogue, load_wallet

translated_languages = [language for language in catalogue.shipped_languages()
                        if language != catalogue.source_language]


def test_english_and_spanish_are_shipped() -> None:
    assert catalogue.shipped_languages() == ["en", "es"]


@pytest.mark.parametrize("language", translated_languages)
def test_every_text_of_strings_js_is_translated_with_the_same_placeholders(language: str) -> None:
    found = catalogue.problems(catalogue.english(), catalogue.read_catalogue(language))
    assert found == [], f"{language}/wallet.po (run make catalogue, then translate):\n" + "\n".join(found)


def test_the_template_holds_exactly_the_texts_of_strings_js() -> None:
    with (catalogue.locale_root / "wallet.pot").open("rb") as file:
        template = read_po(file)
    held = {(message.context, message.id) for message in template if message.id}
    assert held == set(catalogue.english().items()), "wallet.pot is stale: run make catalogue"


def test_the_extraction_method_gives_each_entry_its_id_as_context_and_its_english_as_message() -> None:
    source = (b'export const strings = {\n  "pay.title": "Pay",\n  // a group\n'
              b'  "pay.amount": "Amount in {unit}",\n};\n')
    extracted = list(babel_extract(catalogue.extract, io.BytesIO(source)))
    assert extracted == [(2, "Pay", [], "pay.title"), (4, "Amount in {unit}", [], "pay.amount")]


@pytest.mark.parametrize("line", [
    "  'pay.title': 'Pay',",                     # single quotes
    '  "pay.title": "Pay"',                       # no comma: the next entry would join it
    '  "pay.title":\n    "Pay",',                 # over two lines
    '  "pay.title": `Pay ${x}`,',                 # a template literal
    '  "pay.title": "Pay \\x41",',                # an escape JSON does not have
])
def test_an_entry_the_extractor_cannot_read_is_refused_not_skipped(line: str) -> None:
    with pytest.raises(catalogue.CatalogueError):
        catalogue.read_strings(f"export const strings = {{\n{line}\n}};\n")


def test_an_id_written_twice_is_refused() -> None:
    with pytest.raises(catalogue.CatalogueError, match="twice"):
        catalogue.read_strings('export const strings = {\n  "a.b": "A",\n  "a.b": "B",\n};\n')


def test_each_kind_of_gap_is_named_and_left_out_of_what_the_browser_reads() -> None:
    strings = {"good": "Pay {name}", "missing": "Missing", "changed": "New English", "empty": "Empty",
               "fuzzy": "Fuzzy", "placeholders": "Pay {amount} to {name}"}
    held = Catalog(locale="es")
    held.add("Pay {name}", "Pagar a {name}", context="good")
    held.add("Old English", "Inglés viejo", context="changed")
    held.add("Empty", "", context="empty")
    held.add("Fuzzy", "Difuso", context="fuzzy", flags=["fuzzy"])
    held.add("Pay {amount} to {name}", "Pagar {importe} a {name}", context="placeholders")
    held.add("Gone", "Ido", context="gone")
    held.obsolete["kept"] = Message("Kept", "Guardado", context="kept")  # pybabel update's #~: fine
    found = catalogue.problems(strings, held)
    assert [line.split(":", 1)[0] for line in found] == ["missing", "changed", "empty", "fuzzy", "placeholders", "gone"]
    assert "['amount', 'name']" in found[4] and "['importe', 'name']" in found[4]
    assert catalogue.compiled(strings, held) == {"good": "Pagar a {name}"}


def test_the_node_serves_each_catalogue_as_the_json_the_browser_reads() -> None:
    wallet = load_wallet("es")
    served = msgspec.json.decode(wallet.files["locale/es.json"].body)
    assert served == catalogue.compiled(catalogue.english(), catalogue.read_catalogue("es"))
    assert served["pay.amount"] == "Importe en {unit}"
    assert wallet.files["locale/es.json"].content_type == "application/json"
    assert b'<html lang="es">' in wallet.shell and b"<title>Monedero</title>" in wallet.shell
    assert b'"/wallet/static/locale/es.json"' in wallet.service_worker


def test_the_version_changes_with_the_default_language() -> None:
    assert load_wallet("es").version != load_wallet("en").version


@pytest.mark.parametrize("language", ["fr", "ES", "spanish", ""])
def test_a_default_language_the_wallet_does_not_ship_is_refused_when_the_config_is_read(language: str) -> None:
    with pytest.raises(msgspec.ValidationError, match="default_language"):
        msgspec.json.decode(msgspec.json.encode({"default_language": language}), type=NodeConfig)
