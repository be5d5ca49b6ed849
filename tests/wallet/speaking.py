"""A phone whose browser speaks a given language, for the wallet's language and accessibility tests.

How this works: Playwright's `locale` sets what the page's navigator.languages and Accept-Language
say (the wallet chooses its language from the first, docs/wallet.md "Languages"); the clock's zone
is UTC, so that a date reads the same on every machine; the rest is the package's phone
(conftest.py): 360x740, recording requests, page errors and console errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .conftest import Phone, phone_viewport


def open_phone_speaking(browser: Any, locale: str) -> Iterator[Phone]:
    context = browser.new_context(viewport=phone_viewport, device_scale_factor=1, is_mobile=False, has_touch=True,
                                  locale=locale, timezone_id="UTC")
    phone = Phone(context, context.new_page())
    phone.page.on("request", lambda request: phone.requests.append({"url": request.url, "method": request.method}))
    phone.page.on("pageerror", lambda error: phone.errors.append(str(error)))
    phone.page.on("console", lambda message: phone.console.append(message.text) if message.type == "error" else None)
    yield phone
    context.close()


def html_language(phone: Phone) -> str:
    return phone.page.evaluate("document.documentElement.lang")
