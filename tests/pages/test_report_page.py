"""The community's yearly report (/report) in a real browser, against the pages' cluster: its figures
are the exports' and the API's (turnover the sum of what the journal's rows received, the members
counted, each decision closed and the Bakery's offer with what it raised), a stranger reads the same
page with no member's name on it, it is in Spanish for a Spanish browser, it fits a phone's screen
and passes axe-core at 360 and 1280 px, and headless Chromium prints it to a PDF with pages."""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
import subprocess
from pathlib import Path

from tallystick.ledger.money import parse_amount

from helpers.accessibility import described, serious_violations
from helpers.browsing import Browsing, Community, chromium_path, fits_the_screen
from helpers.support import http

screenshots = Path("/tmp/wallet-shots")
screenshots_wanted = os.environ.get("CI") != "true" or os.environ.get("TALLY_SCREENSHOTS") == "1"
# Printing a page is a second or two; a busy machine may take longer, never this long.
print_timeout_seconds = 90


def signed_minor(text: str) -> int:
    negative = text.startswith("-")
    minor = parse_amount(text.lstrip("-"), 2, allow_zero=True)
    return -minor if negative else minor


def test_the_yearly_report_shows_the_years_figures_prints_and_reads_alike_for_everyone(
    cluster: list[Community], browsing: Browsing, stranger_browsing: Browsing, tmp_path: Path
) -> None:
    community = cluster[0]
    year = datetime.datetime.now(datetime.UTC).year
    assert browsing.open(community.url + "/report").status == 200
    assert browsing.text("h1.report-title") == f"Yearly report {year}"
    assert browsing.text("dd.members") == str(len([p for p in community.people() if p["active"]]))

    # Turnover: what every account received in the year, summed from the journal's rows.
    answer = http("GET", community.url + "/api/exports/journal",
                  headers={"Authorization": community.authorization(community.admin_key, "GET", "/api/exports/journal")})
    assert answer.status == 200
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8"))))
    received = sum(max(0, signed_minor(row["amount"])) for row in rows if row["row"] == "posting")
    assert received > 0 and browsing.text("dd.turnover") == community.money(received)

    closed = [d for d in community.get("/api/decisions?limit=1000") if d["closed_seq"] is not None]
    shown = browsing.page.locator("table.decided tbody tr")
    assert shown.count() == len(closed) > 0
    offers = community.get("/api/offers")  # the Bakery's, and any another test of the cluster opened
    assert browsing.page.locator("table.offers-raised tbody tr").count() == len(offers) > 0
    for offer in offers:
        raised = browsing.page.locator(f'table.offers-raised tr[data-offer="{offer["id"]}"] .raised').inner_text()
        allotted = min(offer["subscribed_units"], offer["units"]) if offer["outcome"] in (None, "allotted") else 0
        assert raised == community.money(allotted * offer["price"])

    # Aggregates only: a stranger reads the same figures, and no member's name.
    assert stranger_browsing.open(community.url + "/report").status == 200
    assert stranger_browsing.text("section#summary") == browsing.text("section#summary")
    page_text = stranger_browsing.text("main")
    assert not [p["name"] for p in community.people() if p["name"] in page_text]

    spanish = http("GET", community.url + "/report", headers={"Accept-Language": "es"})
    assert spanish.headers["content-language"] == "es" and f"Informe anual {year}".encode() in spanish.body

    for width in (360, 1280):
        browsing.page.set_viewport_size({"width": width, "height": 900})
        assert fits_the_screen(browsing.page), f"the report is wider than {width} px"
        violations = serious_violations(browsing.page)
        assert not violations, f"/report at {width} px:\n{described(violations)}"
        if screenshots_wanted:
            screenshots.mkdir(parents=True, exist_ok=True)
            browsing.page.screenshot(path=str(screenshots / f"exports-report-{width}.png"), full_page=True)

    pdf = tmp_path / "report.pdf"
    printed = subprocess.run(
        [str(chromium_path), "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-pdf-header-footer",
         *(["--no-sandbox"] if os.geteuid() == 0 else []), f"--user-data-dir={tmp_path / 'profile'}",
         f"--print-to-pdf={pdf}", community.url + f"/report?year={year}"],
        capture_output=True, timeout=print_timeout_seconds, check=False)
    assert printed.returncode == 0 and pdf.exists(), printed.stderr[-2000:]
    document = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", document))
    assert document.startswith(b"%PDF-") and pages >= 1, pages
    if screenshots_wanted:
        (screenshots / "exports-report.pdf").write_bytes(document)
