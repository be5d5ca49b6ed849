"""cli/terminal.py: text others typed is printed with nothing a terminal would obey.

How this works: `visible` is checked on the characters a terminal acts on and on text that must
pass unchanged; a hypothesis test checks that no output of `visible` holds such a character; the
rich helpers are rendered to a string and checked to show markup as text.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from tallystick.cli.terminal import Table, cell, markup, visible

acted_on = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def test_escape_sequences_bells_and_carriage_returns_are_shown_as_escapes() -> None:
    assert visible("\x1b[2J\x1b]0;title\x07\rok\x08") == "\\x1b[2J\\x1b]0;title\\x07\\rok\\x08"


def test_a_newline_is_shown_in_a_one_line_field_and_kept_in_a_multi_line_one() -> None:
    assert visible("one\ntwo\tthree") == "one\\ntwo\\tthree"
    assert visible("one\ntwo\tthree", multiline=True) == "one\ntwo\\tthree"


def test_bidi_overrides_and_invisible_characters_are_shown_as_escapes() -> None:
    assert visible("Bob\u202eevil\u2066\u200b\u2028\U000e0041") == "Bob\\u202eevil\\u2066\\u200b\\u2028\\U000e0041"


def test_ordinary_text_in_any_script_is_unchanged() -> None:
    for text in ("Bob", "Zoë Łukasz", "Ngô Bảo Châu", "王小明", "محمد", "देवनागरी", "C:\\path", "[bold]x[/]", "😀"):
        assert visible(text) == text


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60), st.booleans())
def test_nothing_visible_prints_is_a_character_a_terminal_acts_on(text: str, multiline: bool) -> None:
    shown = visible(text, multiline)
    assert all(
        unicodedata.category(character) not in acted_on or (multiline and character == "\n") for character in shown
    )


def render(*renderables: object) -> str:
    console = Console(width=200, color_system=None, force_terminal=False)
    with console.capture() as captured:
        console.print(*renderables)
    return captured.get()


def test_markup_in_a_name_is_printed_as_text() -> None:
    assert render(f"[bold]{markup('[red]Eve[/]')}[/]").strip() == "[red]Eve[/]"
    assert render(cell("[/]broken")).strip() == "[/]broken"  # would be a MarkupError as markup


def test_a_table_shows_its_cells_and_title_as_text_made_visible() -> None:
    table = Table(title="[blink]Co-op\x1b[2J")
    table.add_column("name")
    table.add_row("[bold]Eve\u202e[/]")
    shown = render(table)
    assert "[blink]Co-op\\x1b[2J" in shown and "[bold]Eve\\u202e[/]" in shown
    assert "\x1b" not in shown and "\u202e" not in shown
