"""Amounts as people type and read them: major units with the unit's decimals, never floats.

How this works: "12.50" in a unit of 2 decimals is 1250 minor units; "12.505" is refused because
the unit cannot represent it. Parsing goes through `decimal.Decimal` on the string, so no binary
float ever touches an amount.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from tallystick.protocol import limits

from .errors import BadAmountError


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
