"""integrations.money: exponents, exact conversions, provider quirks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations import money
from payments.providers.braintree import BraintreeAdapter
from payments.providers.paypal import PayPalAdapter
from payments.providers.square import SquareAdapter
from payments.providers.stripe import StripeAdapter

CURRENCIES = sorted(money.EXPONENTS)


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("EUR", 2),
        ("usd", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("VND", 0),
        ("CLP", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
    ],
)
def test_exponent(currency: str, expected: int) -> None:
    assert money.exponent(currency) == expected


@pytest.mark.parametrize("code", ["XXX1", "EURO", "", "ABC", "eu"])
def test_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(ValueError):
        money.exponent(code)


def test_validate_currency_upper_cases() -> None:
    assert money.validate_currency(" eur ") == "EUR"


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1050, "EUR", "10.50"),
        (5, "EUR", "0.05"),
        (1050, "JPY", "1050"),
        (1005, "KWD", "1.005"),
        (-250, "USD", "-2.50"),
        (0, "KWD", "0.000"),
    ],
)
def test_to_decimal_string(amount: int, currency: str, text: str) -> None:
    assert money.to_decimal_string(amount, currency) == text


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("10.5", "EUR", 1050),
        ("10", "EUR", 1000),
        ("1050", "JPY", 1050),
        ("1.005", "KWD", 1005),
        ("0.01", "USD", 1),
    ],
)
def test_from_decimal_string(text: str, currency: str, amount: int) -> None:
    assert money.from_decimal_string(text, currency) == amount


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("10.505", "EUR"),
        ("1.5", "JPY"),
        ("1.0005", "KWD"),
        ("abc", "EUR"),
        ("1e3", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "USD"),
    ],
)
def test_from_decimal_string_refuses_what_it_cannot_hold(
    text: str, currency: str
) -> None:
    with pytest.raises(ValueError):
        money.from_decimal_string(text, currency)


def test_floats_are_refused() -> None:
    with pytest.raises(ValueError):
        money.to_decimal_string(10.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        money.from_decimal_string(10.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123456, "EUR", "€1,234.56"),
        (1050, "JPY", "¥1,050"),
        (1005, "KWD", "1.005 KWD"),
        (99, "CHF", "0.99 CHF"),
    ],
)
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert money.format_amount(amount, currency) == text


def test_provider_quirks() -> None:
    stripe = {"exponents": StripeAdapter.currency_exponents}
    stripe_steps = {**stripe, "steps": StripeAdapter.amount_steps}
    paypal = {"exponents": PayPalAdapter.currency_exponents}
    assert money.to_wire_minor(100, "ISK", **stripe) == 10000
    assert money.from_wire_minor(10000, "ISK", **stripe) == 100
    assert money.to_wire_minor(1050, "JPY", **stripe_steps) == 1050
    assert money.to_wire_minor(1000, "KWD", **stripe_steps) == 1000
    with pytest.raises(ValueError):
        money.to_wire_minor(1005, "KWD", **stripe_steps)
    assert money.to_wire_decimal(12300, "HUF", **paypal) == "123"
    with pytest.raises(ValueError):
        money.to_wire_decimal(12345, "HUF", **paypal)
    assert money.from_wire_decimal("123", "HUF", **paypal) == 12300
    assert money.to_wire_decimal(1005, "KWD") == "1.005"


@given(st.sampled_from(CURRENCIES), st.integers(min_value=-(10**15), max_value=10**15))
def test_decimal_round_trip(currency: str, amount: int) -> None:
    text = money.to_decimal_string(amount, currency)
    assert money.from_decimal_string(text, currency) == amount


ADAPTERS = [StripeAdapter, PayPalAdapter, SquareAdapter, BraintreeAdapter]


@given(
    st.sampled_from(CURRENCIES),
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from(ADAPTERS),
)
def test_provider_round_trip_or_refusal(currency: str, amount: int, adapter) -> None:
    exponents = adapter.currency_exponents
    try:
        sent = money.to_wire_decimal(amount, currency, exponents=exponents)
    except ValueError:
        # Only when the provider's unit is coarser and the amount not whole.
        assert money.wire_exponent(currency, exponents) < money.exponent(currency)
        return
    assert money.from_wire_decimal(sent, currency, exponents=exponents) == amount


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [("1234.0", "JPY", 1234), ("10.500", "EUR", 1050), ("0.00", "USD", 0)],
)
def test_a_providers_trailing_zeros_are_exact(text, currency, amount) -> None:
    assert money.from_wire_decimal(text, currency) == amount


def test_a_providers_extra_digits_are_still_refused() -> None:
    with pytest.raises(ValueError):
        money.from_wire_decimal("10.505", "EUR")


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        (954.17, "USD", 95417),  # FedEx's totalNetCharge as json.loads reads it
        (1234.0, "JPY", 1234),
        ("19.99", "USD", 1999),
    ],
)
def test_a_json_number_is_read_by_its_text_never_as_a_float(
    value, currency, amount
) -> None:
    from shipping.providers.fedex import FedExAdapter

    adapter = FedExAdapter.__new__(FedExAdapter)  # no account needed to read
    assert adapter.from_provider_decimal(value, currency) == amount


ADAPTER_CLASSES = [*ADAPTERS, "shipping.providers.fedex.FedExAdapter"]


def _reader(adapter_class):
    if isinstance(adapter_class, str):
        from django.utils.module_loading import import_string

        adapter_class = import_string(adapter_class)
    return adapter_class.__new__(adapter_class)  # no account needed to read


@pytest.mark.parametrize("adapter_class", ADAPTER_CLASSES)
@pytest.mark.parametrize(
    ("decimal", "minor", "currency"),
    [
        ("1000000.00", 100_000_000, "USD"),
        ("-1000000.00", -100_000_000, "USD"),
        ("100000000", 100_000_000, "JPY"),
        ("10000000000.00", 1_000_000_000_000, "IDR"),
        (1e16, 10**16, "JPY"),  # a JSON number written with an exponent
    ],
)
def test_a_providers_amount_beyond_what_the_currency_allows_is_malformed(
    adapter_class, decimal, minor, currency
) -> None:
    from integrations.errors import UnusableAmount

    reader = _reader(adapter_class)
    for read, value in (
        (reader.from_provider_decimal, decimal),
        (reader.from_provider_minor, minor),
    ):
        with pytest.raises(UnusableAmount) as caught:
            read(value, currency)
        assert (caught.value.code, caught.value.outcome) == (
            "malformed_response",
            "unknown",
        )


@pytest.mark.parametrize("adapter_class", ADAPTER_CLASSES)
def test_a_providers_amount_up_to_the_currencys_limit_is_read(adapter_class) -> None:
    reader = _reader(adapter_class)
    assert reader.from_provider_decimal("999999.99", "USD") == money.MAX_AMOUNT
    assert reader.from_provider_decimal("-999999.99", "USD") == -money.MAX_AMOUNT
    assert reader.from_provider_minor(999_999_999_999, "IDR") == 999_999_999_999
