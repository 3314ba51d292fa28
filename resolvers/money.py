"""Money for shared expenses: parsing, formatting, splitting, balances and settle-up plans.

Pure and dependency-free: no I/O, no database, no framework. Every amount is an `int` in the
currency's minor units (cents for EUR, yen for JPY, fils for KWD); decimal strings only exist at
the edges (`parse_amount` in, `format_amount` out). No floats anywhere: splits are computed with
exact `Fraction` quotas, so results never depend on rounding noise.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

# ISO 4217 minor units (number of decimals) of the currencies the app accepts.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
    "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2,
    "BRL": 2, "MXN": 2, "ARS": 2, "COP": 2, "INR": 2, "CNY": 2, "HKD": 2,
    "SGD": 2, "ZAR": 2, "TRY": 2, "ILS": 2, "THB": 2, "MAD": 2,
    "TND": 3, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "LYD": 3, "IQD": 3,
}  # fmt: skip

# Upper bound for any single amount, in minor units: far above any real event expense, and
# keeps every intermediate product small enough to stay cheap.
MAX_MINOR = 10**12

# Reject absurdly long inputs before any regex or int() work (int() refuses > 4300 digits
# anyway, but with an unrelated error).
_MAX_INPUT_LEN = 64

# ASCII digits only: `\d` would also accept other scripts' digits ("١٢"), which nobody types
# into an amount field on purpose. No sign "+", no exponent, no bare "." edges.
_AMOUNT_RE = re.compile(r"(-)?([0-9]+)(?:\.([0-9]+))?")

# SHARES weights are small human numbers ("1", "2.5"); bounding them keeps quotas cheap.
_WEIGHT_RE = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,6}))?")

# Percentages: at most 2 decimals, as the API promises ("33.33").
_PERCENT_RE = re.compile(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?")


class MoneyErrorCode(StrEnum):
    """Invalid money input (reported as ExpenseErrorCode)."""

    INVALID_CURRENCY = "INVALID_CURRENCY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    ZERO_AMOUNT = "ZERO_AMOUNT"
    SPLIT_MISMATCH = "SPLIT_MISMATCH"
    INVALID_SPLIT = "INVALID_SPLIT"


class MoneyError(ValueError):
    """Invalid money input. `code` is stable and machine readable; `field` optionally names the
    offending input (e.g. "parts.2") so the API layer can map it onto a payload error."""

    def __init__(self, code: MoneyErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# --------------------------------------------------------------------------- currencies


def is_supported_currency(code: str) -> bool:
    """True for a currency in `MINOR_UNITS`. Codes are case-sensitive ISO codes ("EUR")."""
    return code in MINOR_UNITS


def _decimals(currency: str) -> int:
    if not is_supported_currency(currency):
        raise MoneyError(MoneyErrorCode.INVALID_CURRENCY, f"Unsupported currency {currency!r}.")
    return MINOR_UNITS[currency]


# --------------------------------------------------------------------------- amounts


def _parse_decimal(text: str) -> tuple[bool, Fraction] | None:
    """Strict decimal literal → (negative, absolute value), or None if it is not one."""
    if len(text) > _MAX_INPUT_LEN:
        return None
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        return None
    sign, whole, frac = match.groups()
    frac = frac or ""
    return sign is not None, Fraction(int(whole + frac), 10 ** len(frac))


def decimal_text(value: Decimal) -> str:
    """A `Decimal` (the API's scalar) as the plain literal `parse_amount` reads ("1E+3" →
    "1000"). NaN, infinities and absurd exponents keep their own spelling, which the parsers
    refuse (and which never expands into a huge string)."""
    if not value.is_finite() or abs(value.adjusted()) > _MAX_INPUT_LEN:
        return str(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > _MAX_INPUT_LEN:
        return str(value)
    return format(value, "f")


def parse_amount(value: str, currency: str, *, allow_zero: bool = False) -> int:
    """Parse a decimal string ("12.50", " 3.1 ", "1200") into minor units of `currency`.

    Strict on purpose: no "+", no exponent ("1e3"), no "NaN"/"Infinity", no ".5" or "5.".
    Surrounding whitespace is ignored. Trailing zeros past the currency's precision are
    accepted because the value is still exact ("12.500" EUR → 1250, "1200.0" JPY → 1200);
    anything that would need rounding is refused ("1.005" EUR, "1.5" JPY).

    Raises MoneyError: INVALID_CURRENCY, INVALID_AMOUNT (malformed, not exact in the currency,
    or above MAX_MINOR), NEGATIVE_AMOUNT, ZERO_AMOUNT (unless `allow_zero`).
    """
    decimals = _decimals(currency)
    parsed = _parse_decimal(value.strip()) if isinstance(value, str) else None
    if parsed is None:
        raise MoneyError(MoneyErrorCode.INVALID_AMOUNT, f"{value!r} is not a decimal amount.")
    negative, magnitude = parsed
    minor = magnitude * 10**decimals
    if minor.denominator != 1:
        raise MoneyError(
            MoneyErrorCode.INVALID_AMOUNT, f"{currency} amounts have at most {decimals} decimal(s)."
        )
    return _check_range(int(minor), negative, allow_zero)


def _check_range(minor: int, negative: bool, allow_zero: bool) -> int:
    # "-0" / "-0.00" is just zero: the sign of nothing is not a negative amount.
    if negative and minor > 0:
        raise MoneyError(MoneyErrorCode.NEGATIVE_AMOUNT, "The amount cannot be negative.")
    if minor == 0 and not allow_zero:
        raise MoneyError(MoneyErrorCode.ZERO_AMOUNT, "The amount must be greater than zero.")
    if minor > MAX_MINOR:
        raise MoneyError(MoneyErrorCode.INVALID_AMOUNT, "The amount is too large.")
    return minor


def format_amount(minor: int, currency: str) -> str:
    """Minor units → plain decimal string with exactly the currency's decimals:
    1250 EUR → "12.50", -305 EUR → "-3.05", 1200 JPY → "1200". No grouping, no symbol:
    presentation belongs to the client."""
    decimals = _decimals(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}"


# --------------------------------------------------------------------------- splits


class SplitMode(enum.StrEnum):
    """How an expense is divided among participants (the value string of each part means):

    EQUAL   — ignored (None allowed); everybody gets the same share ±1 minor unit.
    SHARES  — a positive decimal weight ("1", "2.5"); shares proportional to weights.
    EXACT   — an amount string in the currency ("4.20", zero allowed); must add up exactly.
    PERCENT — a percentage with at most 2 decimals ("33.33"); must add up to exactly 100.
    """

    EQUAL = "EQUAL"
    SHARES = "SHARES"
    EXACT = "EXACT"
    PERCENT = "PERCENT"


def allocate(
    amount: int,
    mode: SplitMode,
    parts: Sequence[tuple[K, str | None]],
    currency: str,
) -> dict[K, int]:
    """Split `amount` (minor units, ≥ 0) among the participants of `parts`.

    The result maps each participant to its share, in the order of `parts`, and the shares
    always add up to `amount` exactly. For EQUAL, SHARES and PERCENT each participant's exact
    quota (a Fraction) is rounded down, then the leftover minor units (fewer than the number
    of participants) go one each to the largest fractional remainders — the largest-remainder
    (Hamilton) method. Ties are broken by the order of `parts`: the earlier part gets the
    unit first, so e.g. 100.00 split EQUAL in 3 is 33.34, 33.33, 33.33. The outcome depends
    only on the inputs (no randomness, no hashing order).

    Raises MoneyError: INVALID_CURRENCY, INVALID_AMOUNT / NEGATIVE_AMOUNT (bad `amount`),
    INVALID_SPLIT (no parts, duplicate participant, malformed or out-of-range part value),
    SPLIT_MISMATCH (EXACT parts ≠ amount, PERCENT parts ≠ 100).
    """
    _decimals(currency)
    _check_total(amount)
    _check_parts(parts)
    if mode is SplitMode.EXACT:
        return _allocate_exact(amount, parts, currency)
    weights = _weights(mode, parts)
    keys = [key for key, _ in parts]
    return dict(zip(keys, largest_remainder(amount, weights), strict=True))


def _check_total(amount: int) -> None:
    # bool is an int subclass; True cents is certainly a bug upstream.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise MoneyError(
            MoneyErrorCode.INVALID_AMOUNT, "The amount must be an integer of minor units."
        )
    if amount < 0:
        raise MoneyError(MoneyErrorCode.NEGATIVE_AMOUNT, "The amount cannot be negative.")
    if amount > MAX_MINOR:
        raise MoneyError(MoneyErrorCode.INVALID_AMOUNT, "The amount is too large.")


def _check_parts(parts: Sequence[tuple[K, str | None]]) -> None:
    if not parts:
        raise MoneyError(
            MoneyErrorCode.INVALID_SPLIT, "A split needs at least one participant.", "parts"
        )
    seen: set[K] = set()
    for index, (key, _) in enumerate(parts):
        if key in seen:
            raise MoneyError(
                MoneyErrorCode.INVALID_SPLIT,
                f"Participant {key!r} appears twice.",
                f"parts.{index}",
            )
        seen.add(key)


def _allocate_exact(
    amount: int, parts: Sequence[tuple[K, str | None]], currency: str
) -> dict[K, int]:
    shares = {key: _exact_share(value, currency, index) for index, (key, value) in enumerate(parts)}
    total = sum(shares.values())
    if total != amount:
        raise MoneyError(
            MoneyErrorCode.SPLIT_MISMATCH,
            f"The parts add up to {format_amount(total, currency)}, "
            f"not {format_amount(amount, currency)}.",
            "parts",
        )
    return shares


def _exact_share(value: str | None, currency: str, index: int) -> int:
    # A bad participant value is a problem of the split, whatever parse_amount calls it;
    # the original reason stays in the message.
    try:
        return parse_amount(_require(value, index), currency, allow_zero=True)
    except MoneyError as error:
        if error.code == MoneyErrorCode.INVALID_SPLIT:
            raise
        raise MoneyError(MoneyErrorCode.INVALID_SPLIT, error.message, f"parts.{index}") from error


def _require(value: str | None, index: int) -> str:
    if not isinstance(value, str):
        raise MoneyError(
            MoneyErrorCode.INVALID_SPLIT, "This participant needs a value.", f"parts.{index}"
        )
    return value


def _weights(mode: SplitMode, parts: Sequence[tuple[K, str | None]]) -> list[Fraction]:
    if mode is SplitMode.EQUAL:
        return [Fraction(1)] * len(parts)
    if mode is SplitMode.SHARES:
        return [_share_weight(value, index) for index, (_, value) in enumerate(parts)]
    if mode is SplitMode.PERCENT:
        return _percent_weights(parts)
    raise MoneyError(MoneyErrorCode.INVALID_SPLIT, f"Unknown split mode {mode!r}.", "mode")


def _parse_fixed(pattern: re.Pattern[str], value: str | None, index: int) -> Fraction:
    """Parse a non-negative decimal matching `pattern` (groups: whole, fraction)."""
    text = _require(value, index).strip()
    match = pattern.fullmatch(text)
    if match is None:
        raise MoneyError(
            MoneyErrorCode.INVALID_SPLIT, f"{value!r} is not a valid number here.", f"parts.{index}"
        )
    whole, frac = match.group(1), match.group(2) or ""
    return Fraction(int(whole + frac), 10 ** len(frac))


def _share_weight(value: str | None, index: int) -> Fraction:
    weight = _parse_fixed(_WEIGHT_RE, value, index)
    if weight <= 0:
        raise MoneyError(MoneyErrorCode.INVALID_SPLIT, "Shares must be positive.", f"parts.{index}")
    return weight


def _percent_weights(parts: Sequence[tuple[K, str | None]]) -> list[Fraction]:
    weights = [_parse_fixed(_PERCENT_RE, value, index) for index, (_, value) in enumerate(parts)]
    if sum(weights) != 100:
        raise MoneyError(
            MoneyErrorCode.SPLIT_MISMATCH, "The percentages must add up to 100.", "parts"
        )
    return weights


def largest_remainder(amount: int, weights: Sequence[Fraction]) -> list[int]:
    """Integer shares of `amount` proportional to `weights` (non-negative, positive sum), summing
    to `amount` exactly. Leftover units go to the largest fractional remainders; equal
    remainders are served in index order (earlier first), which makes the result unique."""
    total = sum(weights, Fraction(0))
    quotas = [amount * weight / total for weight in weights]
    shares = [quota.numerator // quota.denominator for quota in quotas]
    leftover = amount - sum(shares)
    # Sorting by (-remainder, index) is the documented tie-break; leftover < len(weights).
    ranked = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for index in ranked[:leftover]:
        shares[index] += 1
    return shares


# --------------------------------------------------------------------------- balances


@dataclass(frozen=True)
class Balance:
    """Where a member stands, all in minor units.

    paid     — total of the expenses this member paid for the group.
    owed     — total of this member's shares of expenses (what they consumed).
    received — reimbursements (settlements) this member received from others.
    sent     — reimbursements this member sent to others.

    `net` > 0: the group owes them that much; `net` < 0: they owe the group.
    """

    paid: int = 0
    owed: int = 0
    received: int = 0
    sent: int = 0

    @property
    def net(self) -> int:
        # Sending money reduces a debt just like paying an expense does; receiving money
        # reduces what the group still owes you, just like consuming a share does.
        return self.paid + self.sent - self.owed - self.received


def balances(
    expenses: Iterable[tuple[K, Mapping[K, int]]],
    settlements: Iterable[tuple[K, K, int]],
    members: Iterable[K] = (),
) -> dict[K, Balance]:
    """Balances of everyone involved.

    - An expense `(payer, shares)` — shares summing to the expense amount, e.g. the output of
      `allocate` — adds that amount to `payer.paid` and `shares[x]` to `x.owed`.
    - A settlement `(a, b, m)` — a reimbursed b with m — adds m to `a.sent` and `b.received`.
    - `members` are included even without any activity (all zeros).

    Because each expense credits its payer exactly what it debits the shares, and each
    settlement moves the same m both ways, the nets of the result always sum to zero.
    Order: `members` first, then others as first met. Raises MoneyError NEGATIVE_AMOUNT for a
    negative share or settlement.
    """
    totals: dict[K, list[int]] = {member: [0, 0, 0, 0] for member in members}
    for payer, shares in expenses:
        _add(totals, payer, 0, sum(_non_negative(share) for share in shares.values()))
        for member, share in shares.items():
            _add(totals, member, 1, share)
    for sender, receiver, moved in settlements:
        _add(totals, sender, 3, _non_negative(moved))
        _add(totals, receiver, 2, moved)
    return {member: Balance(*row) for member, row in totals.items()}


def _add(totals: dict[K, list[int]], member: K, column: int, value: int) -> None:
    totals.setdefault(member, [0, 0, 0, 0])[column] += value


def _non_negative(value: int) -> int:
    if value < 0:
        raise MoneyError(MoneyErrorCode.NEGATIVE_AMOUNT, "Amounts in balances cannot be negative.")
    return value


# --------------------------------------------------------------------------- settle up


def settlement_plan(
    nets: Mapping[K, int], order: Sequence[K] | None = None
) -> list[tuple[K, K, int]]:
    """Transfers `(debtor, creditor, amount > 0)` that bring every net to zero.

    Algorithm: rank members canonically — by position in `order` (e.g. join order), then the
    rest by sorted key (or by the mapping's order if keys are not comparable). Debtors (net<0)
    and creditors (net>0) are each kept in that rank; zero nets are skipped. Walk both lists
    with two pointers, transferring min(debt left, credit left) and advancing whichever side is
    exhausted. At most (#debtors + #creditors − 1) transfers; no self-transfers.

    Stability — paying one suggested transfer in full (or in part) leaves the others unchanged:
    lay the debts end to end on [0, D) in rank order, and the credits likewise. Each transfer
    is exactly one non-empty overlap of a debtor's interval with a creditor's interval, listed
    left to right. Paying transfer t = overlap [a, b) of debtor d and creditor c shrinks d's and
    c's intervals by the same amount, which is the same as cutting (part of) [a, b) out of the
    line: every other overlap keeps its owners, its length and its relative position. The rank
    does not depend on amounts, and a member whose net reaches zero just has an empty interval,
    so the recomputed plan is the old one without t (or with t reduced).

    Raises ValueError if the nets do not sum to zero (nothing could settle them).
    """
    if sum(nets.values()) != 0:
        raise ValueError("Nets must sum to zero.")
    ranked = _canonical_order(nets, order)
    debtors = [(key, -nets[key]) for key in ranked if nets[key] < 0]
    creditors = [(key, nets[key]) for key in ranked if nets[key] > 0]
    return _walk(debtors, creditors)


def _canonical_order(nets: Mapping[K, int], order: Sequence[K] | None) -> list[K]:
    position: dict[K, int] = {}
    for index, key in enumerate(order or ()):
        position.setdefault(key, index)
    listed = sorted((key for key in nets if key in position), key=position.__getitem__)
    rest = [key for key in nets if key not in position]
    try:
        rest = sorted(rest)  # type: ignore[type-var]  # Hashable isn't known to be orderable
    except TypeError:
        # Unorderable keys: fall back to the mapping's order; stability then requires the
        # caller to present the nets in the same order every time (or to pass `order`).
        pass
    return listed + rest


def _walk(debtors: list[tuple[K, int]], creditors: list[tuple[K, int]]) -> list[tuple[K, K, int]]:
    # Two-pointer merge of the two interval partitions; see settlement_plan for why it is stable.
    debt_left = [amount for _, amount in debtors]
    credit_left = [amount for _, amount in creditors]
    transfers: list[tuple[K, K, int]] = []
    i = j = 0
    while i < len(debtors) and j < len(creditors):
        moved = min(debt_left[i], credit_left[j])
        transfers.append((debtors[i][0], creditors[j][0], moved))
        debt_left[i] -= moved
        credit_left[j] -= moved
        if debt_left[i] == 0:
            i += 1
        if credit_left[j] == 0:
            j += 1
    return transfers
