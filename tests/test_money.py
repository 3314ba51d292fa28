"""resolvers.money: exact examples plus hypothesis properties (sums, determinism, stability)."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.money import (
    MAX_MINOR,
    MINOR_UNITS,
    Balance,
    MoneyError,
    SplitMode,
    allocate,
    balances,
    format_amount,
    is_supported_currency,
    parse_amount,
    settlement_plan,
)

Parts = list[tuple[str, str | None]]
Nets = dict[str, int]
Plan = list[tuple[str, str, int]]

# --------------------------------------------------------------------------- examples


def test_currency_table() -> None:
    assert MINOR_UNITS["EUR"] == 2 and MINOR_UNITS["JPY"] == 0 and MINOR_UNITS["KRW"] == 0
    assert MINOR_UNITS["TND"] == MINOR_UNITS["KWD"] == MINOR_UNITS["BHD"] == 3
    required = "EUR USD GBP CHF CAD AUD JPY KRW SEK NOK DKK PLN CZK HUF BRL MXN INR CNY"
    assert all(is_supported_currency(code) for code in required.split())
    assert not is_supported_currency("XYZ") and not is_supported_currency("eur")


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        (" 3.10 ", "EUR", 310),
        ("12.500", "EUR", 1250),  # trailing zeros are still exact
        ("1200", "JPY", 1200),
        ("1200.0", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("0.001", "BHD", 1),
        ("10000000000", "EUR", MAX_MINOR),
    ],
)
def test_parse_amount(text: str, currency: str, expected: int) -> None:
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        ("+1", "EUR", "INVALID_AMOUNT"),
        ("-1", "EUR", "NEGATIVE_AMOUNT"),
        ("1e3", "EUR", "INVALID_AMOUNT"),
        ("1E3", "EUR", "INVALID_AMOUNT"),
        ("NaN", "EUR", "INVALID_AMOUNT"),
        ("Infinity", "EUR", "INVALID_AMOUNT"),
        ("inf", "EUR", "INVALID_AMOUNT"),
        ("", "EUR", "INVALID_AMOUNT"),
        (".5", "EUR", "INVALID_AMOUNT"),
        ("5.", "EUR", "INVALID_AMOUNT"),
        ("1,50", "EUR", "INVALID_AMOUNT"),
        ("1 000", "EUR", "INVALID_AMOUNT"),
        ("١٢", "EUR", "INVALID_AMOUNT"),  # non-ASCII digits
        ("1" * 100, "EUR", "INVALID_AMOUNT"),
        ("1.005", "EUR", "INVALID_AMOUNT"),
        ("1.5", "JPY", "INVALID_AMOUNT"),
        ("1.0005", "KWD", "INVALID_AMOUNT"),
        ("10000000000.01", "EUR", "INVALID_AMOUNT"),  # 10^12 + 1 minor units
        ("0", "EUR", "ZERO_AMOUNT"),
        ("0.00", "EUR", "ZERO_AMOUNT"),
        ("1", "XYZ", "INVALID_CURRENCY"),
    ],
)
def test_parse_amount_rejects(text: str, currency: str, code: str) -> None:
    with pytest.raises(MoneyError) as caught:
        parse_amount(text, currency)
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError) and str(caught.value)


def test_parse_amount_zero_when_allowed() -> None:
    assert parse_amount("0.00", "EUR", allow_zero=True) == 0
    assert parse_amount("-0", "EUR", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (1250, "EUR", "12.50"),
        (-305, "EUR", "-3.05"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (1200, "JPY", "1200"),
        (-1200, "JPY", "-1200"),
        (5, "KWD", "0.005"),
        (1234, "KWD", "1.234"),
    ],
)
def test_format_amount(minor: int, currency: str, expected: str) -> None:
    assert format_amount(minor, currency) == expected


def test_format_amount_rejects_currency() -> None:
    with pytest.raises(MoneyError) as caught:
        format_amount(1, "XYZ")
    assert caught.value.code == "INVALID_CURRENCY"


def _names(*values: str | None) -> Parts:
    return [(chr(ord("a") + i), value) for i, value in enumerate(values)]


@pytest.mark.parametrize(
    ("amount", "mode", "values", "currency", "expected"),
    [
        (10000, SplitMode.EQUAL, (None, None, None), "EUR", [3334, 3333, 3333]),
        (1000, SplitMode.SHARES, ("1", "2"), "EUR", [333, 667]),
        (1000, SplitMode.SHARES, ("2.5", "1", "1.5"), "EUR", [500, 200, 300]),
        (100, SplitMode.PERCENT, ("33.33", "33.33", "33.34"), "EUR", [33, 33, 34]),
        (100, SplitMode.PERCENT, ("50", "50.00"), "EUR", [50, 50]),
        (1000, SplitMode.EQUAL, (None, None, None), "JPY", [334, 333, 333]),
        (1000, SplitMode.EQUAL, (None, None, None), "KWD", [334, 333, 333]),
        (1000, SplitMode.EXACT, ("4.20", "0", "5.80"), "EUR", [420, 0, 580]),
        (0, SplitMode.EQUAL, (None, None), "EUR", [0, 0]),
        (2, SplitMode.EQUAL, ("ignored", None, None), "EUR", [1, 1, 0]),
    ],
)
def test_allocate_examples(
    amount: int, mode: SplitMode, values: tuple[str | None, ...], currency: str,
    expected: list[int],
) -> None:  # fmt: skip
    parts = _names(*values)
    result = allocate(amount, mode, parts, currency)
    assert list(result.items()) == list(zip("abcdefgh", expected, strict=False))


def test_allocate_kwd_three_decimals() -> None:
    shares = allocate(
        parse_amount("1.000", "KWD"), SplitMode.EQUAL, _names(None, None, None), "KWD"
    )
    assert [format_amount(v, "KWD") for v in shares.values()] == ["0.334", "0.333", "0.333"]


@pytest.mark.parametrize(
    ("amount", "mode", "parts", "currency", "code"),
    [
        (1000, SplitMode.EXACT, _names("4.00", "5.00"), "EUR", "SPLIT_MISMATCH"),
        (100, SplitMode.PERCENT, _names("33.33", "33.33", "33.33"), "EUR", "SPLIT_MISMATCH"),
        (100, SplitMode.PERCENT, _names("33.333", "66.667"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.PERCENT, _names("-10", "110"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.EQUAL, [], "EUR", "INVALID_SPLIT"),
        (100, SplitMode.EQUAL, [("a", None), ("a", None)], "EUR", "INVALID_SPLIT"),
        (100, SplitMode.SHARES, _names("1", "0"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.SHARES, _names("1", "-1"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.SHARES, _names("1", "abc"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.SHARES, _names("1", None), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.SHARES, _names("1", "1e2"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.EXACT, _names("1.005", "0"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.EXACT, _names("NaN", "1.00"), "EUR", "INVALID_SPLIT"),
        (100, SplitMode.EXACT, _names("-1.00", "2.00"), "EUR", "INVALID_SPLIT"),
        (-1, SplitMode.EQUAL, _names(None), "EUR", "NEGATIVE_AMOUNT"),
        (MAX_MINOR + 1, SplitMode.EQUAL, _names(None), "EUR", "INVALID_AMOUNT"),
        (100, SplitMode.EQUAL, _names(None), "XYZ", "INVALID_CURRENCY"),
    ],
)
def test_allocate_rejects(
    amount: int, mode: SplitMode, parts: Parts, currency: str, code: str
) -> None:
    with pytest.raises(MoneyError) as caught:
        allocate(amount, mode, parts, currency)
    assert caught.value.code == code


def test_balances_example() -> None:
    shares = allocate(3000, SplitMode.EQUAL, _names(None, None, None), "EUR")
    result = balances([("a", shares)], [("b", "a", 1000)], members=["d"])
    assert list(result) == ["d", "a", "b", "c"]
    assert result["a"] == Balance(paid=3000, owed=1000, received=1000, sent=0)
    assert [b.net for b in result.values()] == [0, 1000, 0, -1000]
    assert settlement_plan({k: b.net for k, b in result.items()}) == [("c", "a", 1000)]


def test_settlement_plan_example_and_stability() -> None:
    nets = {"a": -5, "b": -3, "c": 4, "d": 4}
    assert settlement_plan(nets) == [("a", "c", 4), ("a", "d", 1), ("b", "d", 3)]
    paid = {"a": -4, "b": -3, "c": 4, "d": 3}  # after a pays d the suggested 1
    assert settlement_plan(paid) == [("a", "c", 4), ("b", "d", 3)]
    # `order` (e.g. join order) wins over sorted keys
    assert settlement_plan(nets, order=["d", "b", "c", "a"]) == [
        ("b", "d", 3), ("a", "d", 1), ("a", "c", 4),
    ]  # fmt: skip


def test_settlement_plan_unorderable_keys_use_order() -> None:
    nets: dict[object, int] = {1: -2, "x": 2, None: 0}
    assert settlement_plan(nets, order=["x", 1]) == [(1, "x", 2)]
    assert settlement_plan({}) == []
    with pytest.raises(ValueError):
        settlement_plan({"a": 1})


# --------------------------------------------------------------------------- strategies

CURRENCIES = ["EUR", "JPY", "KWD"]


def _decimal_text(units: int, decimals: int) -> str:
    """`units` / 10**decimals written as a plain decimal string."""
    if decimals == 0:
        return str(units)
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}"


@st.composite
def _partition(draw: st.DrawFn, total: int, count: int) -> list[int]:
    """`count` non-negative integers summing to `total` (random cut points)."""
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, total]
    return [high - low for low, high in pairwise(bounds)]


@st.composite
def _weight(draw: st.DrawFn) -> str:
    decimals = draw(st.integers(0, 3))
    units = draw(st.integers(1, 10**6))
    return _decimal_text(units, decimals)


@st.composite
def split_cases(draw: st.DrawFn) -> tuple[int, SplitMode, Parts, str]:
    currency = draw(st.sampled_from(CURRENCIES))
    amount = draw(st.integers(0, 10**9) | st.integers(0, 100))
    keys = draw(st.permutations([f"p{i}" for i in range(draw(st.integers(1, 30)))]))
    mode = draw(st.sampled_from(SplitMode))
    values: list[str | None]
    if mode is SplitMode.EQUAL:
        values = [None] * len(keys)
    elif mode is SplitMode.SHARES:
        values = draw(st.lists(_weight(), min_size=len(keys), max_size=len(keys)))
    elif mode is SplitMode.EXACT:
        cents = draw(_partition(amount, len(keys)))
        values = [format_amount(c, currency) for c in cents]
    else:
        basis_points = draw(_partition(10000, len(keys)))
        values = [_decimal_text(bp, 2) for bp in basis_points]
    return amount, mode, list(zip(keys, values, strict=True)), currency


def _quotas(amount: int, mode: SplitMode, parts: Parts) -> list[Fraction]:
    """The exact rational shares the largest-remainder rounding starts from."""
    if mode is SplitMode.EQUAL:
        weights = [Fraction(1)] * len(parts)
    else:
        weights = [Fraction(value or "0") for _, value in parts]
    total = sum(weights, Fraction(0))
    return [amount * w / total for w in weights]


MEMBERS = [f"m{i:02d}" for i in range(12)]


@st.composite
def activity(
    draw: st.DrawFn,
) -> tuple[list[str], list[tuple[str, dict[str, int]]], list[tuple[str, str, int]]]:
    members = MEMBERS[: draw(st.integers(1, 12))]
    member = st.sampled_from(members)
    expense = st.tuples(member, st.dictionaries(member, st.integers(0, 10**6), max_size=12))
    settlement = st.tuples(member, member, st.integers(1, 10**6)).filter(lambda s: s[0] != s[1])
    expenses = draw(st.lists(expense, max_size=15))
    settlements = draw(st.lists(settlement, max_size=10)) if len(members) > 1 else []
    return members, expenses, settlements


@st.composite
def nets_and_order(draw: st.DrawFn) -> tuple[Nets, list[str] | None]:
    members = draw(st.permutations(MEMBERS[: draw(st.integers(0, 12))]))
    # Small values make ties and exact matches (debt == credit) common.
    value = st.just(0) | st.integers(-5, 5) | st.integers(-(10**6), 10**6)
    nets = {m: draw(value) for m in members[:-1]}
    if members:
        nets[members[-1]] = -sum(nets.values())
    order = draw(st.none() | st.permutations(MEMBERS) | st.lists(st.sampled_from(MEMBERS)))
    return nets, order


def _apply(nets: Nets, transfers: Plan) -> Nets:
    after = dict(nets)
    for debtor, creditor, moved in transfers:
        after[debtor] += moved
        after[creditor] -= moved
    return after


# --------------------------------------------------------------------------- properties


@settings(deadline=None, max_examples=300)
@given(split_cases())
def test_allocate_sums_exactly(case: tuple[int, SplitMode, Parts, str]) -> None:
    amount, mode, parts, currency = case
    shares = allocate(amount, mode, parts, currency)
    assert list(shares) == [key for key, _ in parts]
    assert sum(shares.values()) == amount
    assert all(share >= 0 for share in shares.values())
    if mode is SplitMode.EXACT:
        assert list(shares.values()) == [parse_amount(v or "", currency, allow_zero=True)
                                         for _, v in parts]  # fmt: skip
    else:
        # Largest remainder never moves a share a whole unit away from its exact quota.
        quotas = _quotas(amount, mode, parts)
        assert all(abs(s - q) < 1 for s, q in zip(shares.values(), quotas, strict=True))
    if mode is SplitMode.EQUAL:
        values = list(shares.values())
        assert max(values) - min(values) <= 1
        assert values == sorted(values, reverse=True)  # earlier parts get the extra units


@settings(deadline=None, max_examples=150)
@given(split_cases())
def test_allocate_is_deterministic(case: tuple[int, SplitMode, Parts, str]) -> None:
    amount, mode, parts, currency = case
    first = allocate(amount, mode, parts, currency)
    again = allocate(amount, mode, tuple(parts), currency)
    assert list(first.items()) == list(again.items())


@settings(deadline=None, max_examples=150)
@given(st.integers(0, MAX_MINOR), st.sampled_from(sorted(MINOR_UNITS)))
def test_format_parse_round_trip(minor: int, currency: str) -> None:
    assert parse_amount(format_amount(minor, currency), currency, allow_zero=True) == minor


@settings(deadline=None, max_examples=200)
@given(activity())
def test_balances_net_to_zero(
    case: tuple[list[str], list[tuple[str, dict[str, int]]], list[tuple[str, str, int]]],
) -> None:
    members, expenses, settlements = case
    result = balances(expenses, settlements, members)
    assert set(members) <= set(result)
    assert sum(b.net for b in result.values()) == 0
    assert sum(b.paid for b in result.values()) == sum(b.owed for b in result.values())
    assert sum(b.sent for b in result.values()) == sum(b.received for b in result.values())
    # The plan built from real balances settles them too.
    nets = {k: b.net for k, b in result.items()}
    assert all(v == 0 for v in _apply(nets, settlement_plan(nets)).values())


@settings(deadline=None, max_examples=300)
@given(nets_and_order())
def test_settlement_plan_settles_everyone(case: tuple[Nets, list[str] | None]) -> None:
    nets, order = case
    plan = settlement_plan(nets, order)
    assert all(v == 0 for v in _apply(nets, plan).values())
    nonzero = sum(1 for v in nets.values() if v != 0)
    assert len(plan) <= max(nonzero - 1, 0)
    for debtor, creditor, moved in plan:
        assert moved > 0 and debtor != creditor
        assert nets[debtor] < 0 < nets[creditor]  # nobody both pays and receives
    # Canonical: the mapping's iteration order does not matter.
    assert settlement_plan(dict(reversed(nets.items())), order) == plan


@settings(deadline=None, max_examples=300)
@given(nets_and_order(), st.data())
def test_settlement_plan_is_stable(
    case: tuple[Nets, list[str] | None], data: st.DataObject
) -> None:
    nets, order = case
    plan = settlement_plan(nets, order)
    if not plan:
        return
    index = data.draw(st.integers(0, len(plan) - 1), label="paid transfer")
    paid = plan[index]
    assert settlement_plan(_apply(nets, [paid]), order) == plan[:index] + plan[index + 1 :]
    # A partial payment only shrinks that transfer (a bonus: only full payment is promised).
    debtor, creditor, moved = paid
    part = data.draw(st.integers(1, moved), label="partial amount")
    shrunk = [(debtor, creditor, moved - part)] if part < moved else []
    expected = plan[:index] + shrunk + plan[index + 1 :]
    assert settlement_plan(_apply(nets, [(debtor, creditor, part)]), order) == expected
