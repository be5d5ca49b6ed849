"""The mails' catalogue (node/locale/mails.pot and each mails.po; docs/notifications.md, "Languages")
is current with node/mailer.py and complete: every text a mail says is in the template, and every
language the node ships mails in translates all of them, fuzzy none, with the same placeholders."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from tallystick.node import mailer

_placeholder = re.compile(r"\{[a-z_]+\}")


def _ids(message_id: str | tuple[str, ...]) -> tuple[str, ...]:
    return message_id if isinstance(message_id, tuple) else (message_id,)


def test_the_template_holds_every_text_of_the_mailer_and_no_other() -> None:
    extracted = {message[1][0] if isinstance(message[1], tuple) else message[1] for message in extract_from_file(
        "python", mailer.__file__, keywords={"_": None, "ngettext": (1, 2)})}
    with (mailer.locale_root / "mails.pot").open("rb") as file:
        template = {_ids(message.id)[0] for message in read_po(file) if message.id}
    assert extracted == template, "run the `pybabel extract` of docs/notifications.md, \"Languages\", then update"


@pytest.mark.parametrize("language", [language for language in mailer.mail_languages() if language != "en"])
def test_each_language_translates_every_text_with_its_placeholders(language: str) -> None:
    with (mailer.locale_root / "mails.pot").open("rb") as file:
        template = {_ids(message.id)[0] for message in read_po(file) if message.id}
    with (mailer.locale_root / language / "LC_MESSAGES" / "mails.po").open("rb") as file:
        catalogue = read_po(file, locale=language)
    held = {_ids(message.id)[0]: message for message in catalogue if message.id}
    assert set(held) == template
    for message_id, message in held.items():
        assert not message.fuzzy, message_id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: {message_id!r} is not translated"
        wanted = set(_placeholder.findall(" ".join(_ids(message.id))))
        for string in strings:
            assert set(_placeholder.findall(string)) == wanted, (language, message_id, string)
