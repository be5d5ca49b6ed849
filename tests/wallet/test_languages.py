"""The wallet speaks the reader's language: Spanish to a browser that asks for it, the community's
default (config.json `default_language`) to one that asks for no language the node ships, English
otherwise; amounts and dates in the reader's locale; a language chosen in settings kept on the
device; the shell and the 404 page in the community's default. A real node (two: one whose
community defaults to Spanish), Debian's Chromium, the catalogue as the node compiled it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tallystick.protocol.ids import id_to_text

from helpers.browsing import wait_until
from helpers.nodes import NodeProcess, init_home
from helpers.support import tally

from .conftest import Phone
from .speaking import html_language, open_phone_speaking
from .test_wallet_flow import invite


@pytest.fixture(scope="module")
def spanish_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A community whose default language is Spanish."""
    directory = tmp_path_factory.mktemp("spanish-node")
    home = directory / "home"
    created = init_home(home, debit_limit="50", credit_ceiling="1000", config={"default_language": "es"})
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created).start()
    yield node
    assert node.stop() == 0, node.output()


@pytest.fixture
def spanish_phone(browser: Any) -> Iterator[Phone]:
    yield from open_phone_speaking(browser, "es-ES")


def format_in(phone: Phone, node: NodeProcess, calls: str) -> Any:
    """Evaluate `calls` (JavaScript using formatAmount and formatTime) in the wallet's page."""
    phone.page.goto(node.url + "/wallet", wait_until="load")
    return phone.page.evaluate(f"""async () => {{
      const {{ formatAmount, formatTime }} = await import("/wallet/static/format.js");
      const unit = {{ code: "HRS", decimals: 2 }};
      return {calls};
    }}""")


# locale -> 1234.50, -1234.50, +25.00 (signed), 1234 of a unit with no decimals, 5 March 2026 14:30 UTC
# (the date with its spaces as plain spaces: ICU versions differ on a narrow no-break space before PM)
expected_formats = {
    "en-US": ["1,234.50 HRS", "-1,234.50 HRS", "+25.00 HRS", "1,234 PTS", "Mar 5, 2026, 2:30 PM"],
    "es-ES": ["1.234,50 HRS", "-1.234,50 HRS", "+25,00 HRS", "1.234 PTS", "5 mar 2026, 14:30"],
    # A Spanish reader in Mexico reads Spanish words and Mexico's numbers.
    "es-MX": ["1,234.50 HRS", "-1,234.50 HRS", "+25.00 HRS", "1,234 PTS", "5 mar 2026, 2:30 p.m."],
}


@pytest.mark.parametrize("locale", sorted(expected_formats))
def test_amounts_and_dates_are_written_in_the_readers_locale(browser: Any, wallet_node: NodeProcess,
                                                             locale: str) -> None:
    for phone in open_phone_speaking(browser, locale):
        written = format_in(phone, wallet_node, """[formatAmount(123450n, unit), formatAmount(-123450, unit),
          formatAmount(2500, unit, { signed: true }), formatAmount(1234, { code: "PTS", decimals: 0 }),
          formatTime(Date.UTC(2026, 2, 5, 14, 30)).replace(/\\s/g, " ")]""")
        assert written == expected_formats[locale]


def test_a_browser_asking_for_spanish_reads_the_wallet_in_spanish(spanish_phone: Phone,
                                                                  wallet_node: NodeProcess) -> None:
    page = spanish_phone.page
    page.goto(invite(wallet_node, "--name", "Inés Arroyo"), wait_until="load")
    wait_until(lambda: page.get_by_label("Tu nombre").count(), what="the join form in Spanish")
    assert html_language(spanish_phone) == "es"
    page.get_by_role("button", name="Unirme").click()
    wait_until(lambda: page.locator("#balance").count(), what="the home screen")
    assert page.locator("#balance").inner_text() == "0,00 HRS"
    assert page.locator("#limits").inner_text().split("\n") == ["Puedes bajar hasta -50,00 HRS",
                                                                "Puedes acumular hasta 1.000,00 HRS"]
    assert page.get_by_role("navigation").inner_text().split("\n") == ["Inicio", "Pagar", "Decidir", "Capital", "Mercado", "Más"]
    assert page.title() == "Integration · Monedero"
    page.get_by_role("navigation").get_by_role("link", name="Pagar").click()
    page.get_by_role("button", name="Revisar").click()
    assert page.get_by_role("alert").inner_text() == "Elige a quién pagar."
    payee = wallet_node.admit("Ramón Vidal")
    page.goto(f"{wallet_node.url}/wallet/pay?to={id_to_text('m', payee.public)}", wait_until="load")
    wait_until(lambda: page.locator("#payee").count(), what="the payee from the pay link")
    page.get_by_label("Importe en HRS").fill("1,234")
    page.get_by_role("button", name="Revisar").click()
    assert page.get_by_role("alert").inner_text() == "Como máximo 2 cifras después de la coma."
    assert spanish_phone.errors == []


def test_a_browser_asking_for_no_shipped_language_reads_the_communitys_default(
        browser: Any, spanish_node: NodeProcess) -> None:
    for phone in open_phone_speaking(browser, "fr-FR"):
        phone.page.goto(spanish_node.url + "/wallet", wait_until="load")
        heading = phone.page.locator("main h1")
        wait_until(heading.count, what="the screen of a device with no wallet")
        assert heading.inner_text() == "Aún no hay ningún monedero en este dispositivo"
        assert html_language(phone) == "es"


def test_a_browser_asking_for_english_reads_english_whatever_the_communitys_default(
        browser: Any, spanish_node: NodeProcess) -> None:
    for phone in open_phone_speaking(browser, "en-US"):
        phone.page.goto(spanish_node.url + "/wallet", wait_until="load")
        heading = phone.page.locator("main h1")
        wait_until(heading.count, what="the screen of a device with no wallet")
        assert heading.inner_text() == "No wallet on this device yet"
        assert html_language(phone) == "en"


def test_the_shell_and_the_404_page_are_in_the_communitys_default_language(spanish_node: NodeProcess) -> None:
    shell = spanish_node.http("GET", "/wallet")
    assert shell.status == 200
    assert b'<html lang="es">' in shell.body and b'<meta name="wallet-languages" content="en es">' in shell.body
    assert "<title>Monedero</title>" in shell.body.decode()
    assert "Este monedero necesita JavaScript: actívalo para este sitio." in shell.body.decode()
    missing = spanish_node.http("GET", "/wallet/nowhere")
    assert missing.status == 404 and '<html lang="es">' in missing.body.decode()
    assert "Página no encontrada" in missing.body.decode()
    catalogue = spanish_node.http("GET", "/wallet/static/locale/es.json")
    assert catalogue.status == 200 and catalogue.json()["home.balance"] == "Saldo"
    assert spanish_node.http("GET", "/wallet/static/locale/fr.json").status == 404


def test_a_language_chosen_in_settings_is_kept_on_the_device_and_can_go_back_to_the_browsers(
        spanish_phone: Phone, wallet_node: NodeProcess) -> None:
    page = spanish_phone.page
    page.goto(invite(wallet_node, "--name", "Elena Prieto"), wait_until="load")
    page.get_by_role("button", name="Unirme").click()
    wait_until(lambda: page.locator("#balance").count(), what="the home screen")
    page.get_by_role("navigation").get_by_role("link", name="Más").click()
    switch = page.get_by_label("Idioma")
    wait_until(switch.count, what="the language switch")
    assert switch.input_value() == ""
    assert [option.strip() for option in switch.locator("option").all_inner_texts()] == [
        "El del navegador (español)", "English", "Español"]
    spanish_phone.shoot("i18n-switch")
    switch.select_option("en")
    with page.expect_navigation():
        page.get_by_role("button", name="Usar este idioma").click()
    wait_until(lambda: page.get_by_label("Language").count(), what="the settings in English")
    assert page.locator("h1").inner_text() == "Settings" and html_language(spanish_phone) == "en"
    assert page.get_by_label("Language").input_value() == "en"
    page.goto(wallet_node.url + "/wallet", wait_until="load")
    wait_until(lambda: page.locator("#balance").count(), what="the home screen")
    assert page.locator("#balance").inner_text() == "0.00 HRS"  # English words, English numbers
    assert page.evaluate("localStorage.getItem('tallystick-wallet-language')") == "en"  # on the device

    page.get_by_role("navigation").get_by_role("link", name="More").click()
    wait_until(lambda: page.get_by_label("Language").count(), what="the settings")
    page.get_by_label("Language").select_option("")
    with page.expect_navigation():
        page.get_by_role("button", name="Use this language").click()
    wait_until(lambda: page.get_by_label("Idioma").count(), what="the settings in Spanish again")
    assert html_language(spanish_phone) == "es"


def test_a_default_language_with_no_catalogue_stops_tally_serve_in_one_line(tmp_path: Any) -> None:
    home = tmp_path / "home"
    init_home(home, config={"default_language": "fr"})
    served = tally("serve", home)
    assert served.returncode == 2
    (line,) = served.stderr.strip().splitlines()
    assert "default_language 'fr' has no catalogue: write one of en, es" in line


def test_a_browser_that_keeps_nothing_for_the_site_is_told_in_one_line_and_nothing_changes(
        spanish_phone: Phone, wallet_node: NodeProcess) -> None:
    page = spanish_phone.page
    # As a browser whose settings refuse this site's storage does (a SecurityError on every write).
    page.add_init_script("Storage.prototype.setItem = function () { throw new DOMException('refused', 'SecurityError'); };")
    page.goto(invite(wallet_node, "--name", "Sara Quintana"), wait_until="load")
    page.get_by_role("button", name="Unirme").click()
    wait_until(lambda: page.locator("#balance").count(), what="the home screen")
    page.get_by_role("navigation").get_by_role("link", name="Más").click()
    wait_until(lambda: page.get_by_label("Idioma").count(), what="the language switch")
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Usar este idioma").click()
    alert = page.get_by_role("alert")
    wait_until(alert.count, what="the line saying the choice cannot be kept")
    assert alert.inner_text() == ("Este navegador no guarda nada para este sitio (¿una ventana privada?), "
                                  "así que aquí no se puede cambiar el idioma.")
    assert html_language(spanish_phone) == "es" and page.locator("h1").inner_text() == "Ajustes"


def test_the_language_is_changed_with_the_keyboard_alone_and_an_arrow_key_reloads_nothing(
        spanish_phone: Phone, wallet_node: NodeProcess) -> None:
    page = spanish_phone.page
    page.goto(invite(wallet_node, "--name", "Teo Lozano"), wait_until="load")
    page.get_by_role("button", name="Unirme").click()
    wait_until(lambda: page.locator("#balance").count(), what="the home screen")
    page.get_by_role("navigation").get_by_role("link", name="Más").click()
    wait_until(lambda: page.get_by_label("Idioma").count(), what="the language switch")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "language":
            break
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.evaluate("window.notReloaded = true")
    page.keyboard.press("ArrowDown")  # "English", chosen but not yet used
    assert page.get_by_label("Idioma").input_value() == "en"
    assert page.evaluate("window.notReloaded === true") and html_language(spanish_phone) == "es"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Usar este idioma"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_until(lambda: page.get_by_label("Language").count(), what="the settings in English")
    assert html_language(spanish_phone) == "en"
