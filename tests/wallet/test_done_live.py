"""Issue 16's "is paid (seeing it arrive live)", proven as the issue means it: a new person joins from
an invitation at a phone's size and, on the home screen they keep open, sees a payment to them
arrive by the server-sent events of /api/stream: the stream's `balance` event carries the new
balance (recorded by a wrapper of the page's own EventSource), and the screen shows it in the same
document all along (no reload, no navigation, no document fetched again). tests/wallet/test_wallet_flow.py walks the rest of
that first story (paying by name, the refusal, the keys that stay on the device)."""

from __future__ import annotations

from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import id_from_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess

from .conftest import Phone
from .test_wallet_flow import invite, join_through

# Records each `balance` event of every EventSource the page opens, before the wallet's code runs.
record_stream = """
const Original = window.EventSource;
window.__streamed = [];
window.EventSource = class extends Original {
  constructor(...args) {
    super(...args);
    this.addEventListener("balance", (event) => window.__streamed.push(JSON.parse(event.data)));
  }
};
"""


def test_a_payment_arrives_on_the_open_home_screen_by_the_stream_with_no_reload(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = join_through(phone, invite(wallet_node, "--name", "Lena Brook"))
    page = phone.page
    assert page.viewport_size == {"width": 360, "height": 740}
    page.add_init_script(record_stream)
    page.reload(wait_until="load")
    wait_until(lambda: page.locator("#balance").count(), what="home, with the stream recorded")
    wait_until(lambda: any(r["url"].endswith("/api/stream") for r in phone.requests), what="the stream opened")
    assert page.locator("#balance").inner_text() == "0.00 HRS"
    page.evaluate("window.__sameDocument = true")
    navigations = page.evaluate("performance.getEntriesByType('navigation').length")
    before = len(phone.requests)

    wallet_node.act(wallet_node.admin_key, Transfer(to=id_from_text("m", member), amount_minor=1234, memo="for the jam"))
    wait_until(lambda: page.locator("#balance").inner_text() == "12.34 HRS", what="the balance, live")
    wait_until(lambda: "for the jam" in page.locator("#latest").inner_text(), what="the payment among the latest")

    assert page.evaluate("window.__sameDocument") is True  # the screen was never reloaded
    assert page.evaluate("performance.getEntriesByType('navigation').length") == navigations
    assert any(event.get("balance") == 1234 for event in page.evaluate("window.__streamed")), \
        page.evaluate("window.__streamed")
    after = [request["url"] for request in phone.requests[before:]]
    assert not any(url.split("?")[0].endswith("/wallet") for url in after), after  # no document fetched again
    assert fits_the_screen(page)
    phone.shoot("done-live")  # axe-core: no serious or critical violation
    assert phone.errors == []
