"""Text that others typed, made safe to print to a terminal.

How this works: names, memos, titles, texts, options and enterprise names come from the log,
where any member may have put any character. A terminal obeys some of them: ESC starts a command
(clear the screen, move the cursor, retitle the window), a carriage return or backspace overwrites
what was printed, and a bidi override reverses what follows so that "Bob\u202eevila" reads
"Bobalive". So every such text passes through `visible` before it is printed: each control,
format, separator, surrogate, private-use or unassigned character is printed as its Python escape
(`\\x1b`, `\\n`, `\\u202e`), so what reaches the terminal is only characters that draw themselves.
rich reads `[bold]` in a string as markup, so text printed through rich is also escaped
(`markup`, for interpolating into a marked-up line) or wrapped as a `Text` (`cell`, for a table
cell), which rich never parses. `--json` output is left exact: JSON escapes control characters
itself, and a program reading it must get the bytes that were signed.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import rich.table
from rich.markup import escape
from rich.text import Text

# Characters a terminal may act on instead of drawing, by general category.
_escaped_categories = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


_short_escapes = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(character: str) -> str:
    if character in _short_escapes:
        return _short_escapes[character]
    point = ord(character)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def visible(text: str, multiline: bool = False) -> str:
    """`text` with every character a terminal would act on shown as its escape. With `multiline`,
    a newline stays a newline (a decision's text, a CSV); tabs and carriage returns never do."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        character
        if (multiline and character == "\n") or unicodedata.category(character) not in _escaped_categories
        else _escape(character)
        for character in text
    )


def markup(text: str) -> str:
    """`text` made visible and escaped for rich markup, to put inside a marked-up line."""
    return escape(visible(text))


def cell(text: str | None) -> Text:
    """A table cell showing `text` made visible; rich never reads a `Text` as markup."""
    return Text(visible(text or ""))


class Table(rich.table.Table):
    """A rich table whose string cells and title are shown as `cell` shows them: every row of
    ours holds text that members typed, so no cell is ever read as markup or printed raw."""

    def __init__(self, *headers: Any, title: str | Text | None = None, **options: Any) -> None:
        super().__init__(*headers, title=cell(title) if isinstance(title, str) else title, **options)

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(*(cell(value) if isinstance(value, str) else value for value in cells), **options)
