"""Accessibility checks of a page in the browser: axe-core, vendored, run on what the page shows now.

How this works: axe-core (Deque's rule engine, MPL-2.0) is vendored unchanged from the npm registry's
package under vendor/axe-core/ (axe.min.js, LICENSE, LICENSE-3RD-PARTY.txt; the version is
`axe_version`, checked against the file's header). It is for tests only and never served by a node.
`serious_violations(page)` puts it into the page, when not there yet, by evaluating the script's text
through Playwright (the DevTools protocol runs it as the inspector would), not with a <script> tag: a
tag would have to be inline, which the wallet's Content-Security-Policy (script-src 'self') refuses,
and turning the policy off (`bypass_csp`) would test another page than the one members get. It then
runs every rule axe has for WCAG 2.x A and AA (and its best practices) on the whole document and
answers the violations whose impact is serious or critical, each with the elements it found, so that
a failing test says what to fix.

To update axe: `npm pack axe-core@<version>`, copy those three files, change `axe_version`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

axe_version = "4.14.1"
axe_path = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# What a test refuses: axe's two highest impacts (of minor, moderate, serious, critical).
refused_impacts = ("serious", "critical")

_run_axe = """async (impacts) => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.filter((violation) => impacts.includes(violation.impact)).map((violation) => ({
    id: violation.id, impact: violation.impact, help: violation.help,
    nodes: violation.nodes.map((node) => ({ target: node.target.join(" "), summary: node.failureSummary })),
  }));
}"""


@functools.cache
def axe_source() -> str:
    source = axe_path.read_text("utf-8")
    assert source.startswith(f"/*! axe v{axe_version}\n"), f"{axe_path} is not axe-core {axe_version}"
    return source


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on `page` as it is now: [] when there is none."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    return page.evaluate(_run_axe, list(refused_impacts))


def described(violations: list[dict[str, Any]]) -> str:
    """The violations as lines a person fixes from: rule, impact, what it asks, which elements."""
    return "\n".join(f"{violation['impact']} {violation['id']}: {violation['help']}\n" + "\n".join(
        f"    {node['target']}: {node['summary']}" for node in violation["nodes"]) for violation in violations)
