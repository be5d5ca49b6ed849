// Amounts and times as a person reads them: major units with the unit's code, in the reader's
// locale (strings.js `locale`: "12.50 HRS" in English, "1.234,50 HRS" in Spain's Spanish), and the
// reverse for what they type. The node speaks integers in minor units (docs/api.md); the wallet
// never shows them.
import { amountMinorMax } from "./intents.js";
import { locale } from "./strings.js";

// `minor` (Number or BigInt, signed) as "12.50 HRS" in the reader's locale, the locale's own minus
// sign before a negative one; exact for every amount (Intl formats a decimal string without going
// through a float). Thousands are always grouped, even in a language that leaves four digits
// ungrouped (Spanish writes 1234 but 12.345): amounts in a list then read alike.
export function formatAmount(minor, unit, { signed = false } = {}) {
  const value = BigInt(minor);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(unit.decimals + 1, "0");
  const whole = digits.slice(0, digits.length - unit.decimals) || "0";
  const fraction = unit.decimals ? `.${digits.slice(digits.length - unit.decimals)}` : "";
  const format = new Intl.NumberFormat(locale, {
    minimumFractionDigits: unit.decimals, maximumFractionDigits: unit.decimals, useGrouping: "always",
    signDisplay: signed ? "exceptZero" : "auto" });
  return `${format.format(`${negative ? "-" : ""}${whole}${fraction}`)} ${unit.code}`;
}

// What a person typed, in major units, as minor units (a BigInt), or {error: message id}. Either
// "." or "," is the decimal mark (both are common on phones); no grouping marks, no sign.
export function parseAmount(text, decimals) {
  const typed = text.trim().replace(/\s/g, "");
  if (typed === "") return { error: "amount.empty" };
  const match = /^(\d*)(?:[.,](\d*))?$/.exec(typed);
  if (!match || (match[1] === "" && !match[2])) return { error: "amount.bad" };
  const fraction = match[2] ?? "";
  if (fraction.length > decimals) return { error: decimals ? "amount.decimals" : "amount.no_decimals" };
  const minor = BigInt((match[1] || "0") + fraction.padEnd(decimals, "0"));
  if (minor <= 0n) return { error: "amount.zero" };
  if (minor > amountMinorMax) return { error: "amount.large" };
  return { minor };
}

// A major-unit amount for a form field (no grouping, "." as the mark), e.g. from a pay link.
export function plainAmount(minor, decimals) {
  const digits = BigInt(minor).toString().padStart(decimals + 1, "0");
  return decimals ? `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}` : digits;
}

// A moment (ms since the epoch) as the reader's locale writes a date and time.
export function formatTime(ms) {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}
