"""Amounts and shares as people type and read them: major units with the unit's decimals, and
bars (a quorum, a threshold) in basis points; never floats.

How this works: "12.50" in a unit of 2 decimals is 1250 minor units; "12.505" is refused because
the unit cannot represent it. Parsing goes through `decimal.Decimal` on the string, so no binary
float ever touches an amount. A bar is typed as a percent ("66.67", "66.67%") or a fraction
("2/3"); a fraction becomes the basis points it rounds to, which it then reaches by the rule of
ledger/decisions.py (`reaches`: a share reaches a bar when, rounded to the nearest basis point, it
is at least the bar), so "2/3" means that two of three pass.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

from tallystick.protocol import limits

from .errors import BadAmountError, BadDecisionError

share_text_bytes_max = 32  # "100%", "66.67 %", "123456/1000000": a bar is short; longer is a mistake


def parse_amount(text: str, decimals: int, *, allow_zero: bool = False) -> int:
    """'12.50' -> 1250 (decimals=2). Raises BadAmountError saying what is wrong."""
    cleaned = text.strip().replace("_", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise BadAmountError(f"{text!r} is not an amount; write it like 12.50") from None
    if not value.is_finite():
        raise BadAmountError(f"{text!r} is not an amount; write it like 12.50")
    minor = value.scaleb(decimals)
    if minor != minor.to_integral_value():
        raise BadAmountError(f"{text!r} has more than {decimals} decimals, which this unit cannot represent")
    result = int(minor)
    if result < 0 or (result == 0 and not allow_zero):
        raise BadAmountError(f"{text!r}: an amount must be greater than zero")
    if result > limits.amount_minor_max:
        raise BadAmountError(f"{text!r} is larger than the largest amount the protocol carries")
    return result


def format_amount(minor: int, decimals: int) -> str:
    """1250 -> '12.50' (decimals=2)."""
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(decimals + 1, "0")
    if decimals == 0:
        return sign + digits
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def format_money(minor: int, decimals: int, unit: str) -> str:
    """1250 -> '12.50 HRS': an amount as a person reads it, in major units with the unit's code.
    Zero is never signed ('0.00 HRS', not '-0.00 HRS')."""
    return f"{format_amount(minor, decimals)} {unit}"


def format_debit_limit(limit_minor: int, decimals: int, unit: str) -> str:
    """A debit limit (a positive number of minor units an account may go below zero):
    10000 -> '-100.00 HRS'; 0 -> '0.00 HRS' (no credit)."""
    return format_money(-limit_minor, decimals, unit)


def format_ceiling(ceiling_minor: int, decimals: int, unit: str) -> str:
    """A credit ceiling: '500.00 HRS', or 'no ceiling' for the largest the protocol carries."""
    if ceiling_minor >= limits.amount_minor_max:
        return "no ceiling"
    return format_money(ceiling_minor, decimals, unit)


def parse_share(text: str) -> int:
    """A bar as a person types it, in basis points: '66.67', '66.67%' or '66.67 %' (a percent, at most
    two decimals), or '2/3' (a fraction, rounded to the nearest basis point, a half up): 6667.
    Raises BadDecisionError saying what to type."""
    cleaned = text.strip()
    hint = "write a percent like 66.67 (or 66.67%) or a fraction like 2/3"
    if not cleaned or len(cleaned) > share_text_bytes_max:
        raise BadDecisionError(f"{text!r} is not a share: {hint}")
    if "/" in cleaned:
        numerator, _, denominator = cleaned.partition("/")
        if not (numerator.strip().isdigit() and denominator.strip().isdigit() and numerator.strip().isascii()
                and denominator.strip().isascii()):
            raise BadDecisionError(f"{text!r} is not a fraction of whole numbers: {hint}")
        if int(denominator) == 0:
            raise BadDecisionError(f"{text!r} divides by zero: {hint}")
        share = Fraction(int(numerator), int(denominator))
        if share > 1:
            raise BadDecisionError(f"{text!r} is more than the whole: a share is at most 1/1 (100 %)")
        return int(share * limits.basis_points_max + Fraction(1, 2))  # floor of x + 1/2: the nearest, a half up
    number = cleaned.removesuffix("%").strip()
    whole, dot, decimals = number.partition(".")
    if not (whole.isascii() and whole.isdigit() and (not dot or (decimals.isascii() and decimals.isdigit()))):
        raise BadDecisionError(f"{text!r} is not a share: {hint}")
    percent = Decimal(number)
    basis_points = percent.scaleb(2)
    if basis_points != basis_points.to_integral_value():
        raise BadDecisionError(
            f"{text!r} has more than two decimals: a bar is in hundredths of a percent; "
            "round it (66.67), or write the fraction (2/3)"
        )
    if basis_points > limits.basis_points_max:
        raise BadDecisionError(f"{text!r} is more than 100 %: a share is at most 100")
    return int(basis_points)


def format_share(basis_points: int) -> str:
    """6667 -> '66.67 %'; 5000 -> '50 %': a bar as a person reads it."""
    whole, hundredths = divmod(basis_points, 100)
    return f"{whole} %" if hundredths == 0 else f"{whole}.{hundredths:02d} %"


def format_duration(ms: int) -> str:
    """A duration as people say it, to two units: '2 d 3 h', '1 min 50 s', '0 s'."""
    seconds = max(0, ms) // 1000
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
