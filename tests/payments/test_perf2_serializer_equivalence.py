"""perf2: the payment serializers' shortcuts answer exactly what DRF's own
machinery answers, for any payment and any create body."""

import contextlib
from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from integrations.api import plain_bodies
from integrations.models import ProviderAccount
from payments import serializers as payment_serializers
from payments.models import Payment, PaymentStatus
from payments.serializers import payment_create_validated, payment_data

_DRF = serializers.Serializer.__dict__


@contextlib.contextmanager
def drf_machinery():
    """DRF's own field walks in place of the shortcuts (a property wins over
    the instance's cached value)."""
    fixed = payment_serializers._FieldsFixed
    with (
        mock.patch.object(fixed, "_readable_fields", _DRF["_readable_fields"]),
        mock.patch.object(fixed, "_writable_fields", _DRF["_writable_fields"]),
        mock.patch.object(fixed, "to_representation", _DRF["to_representation"]),
        mock.patch.object(
            plain_bodies.SurrogateSearch,
            "__call__",
            ProhibitSurrogateCharactersValidator.__call__,
        ),
        # pay46: no plain-body shortcut either, DRF's run for every body.
        mock.patch.object(plain_bodies, "validated", lambda serializer, data: None),
    ):
        yield


# Lone surrogates too (JSON can carry them: "\\ud800").
text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.sampled_from(["a\ud800b", "\udfff", "ok\udbff\udc00", "tok_\ud83d"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), text
)
values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(text, scalars, max_size=3)
)
create_bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(
            [
                "order_id",
                "amount",
                "currency",
                "source_token",
                "capture",
                "customer_reference",
                "customer_email",
                "ip_address",
                "ip_country",
                "billing_country",
                "card_fingerprint",
                "metadata",
                "other",
            ]
        ),
        values,
    ),
    st.fixed_dictionaries(
        {
            "order_id": text,
            "amount": st.integers(-5, 10**12),
            "currency": st.sampled_from(["EUR", "eur", "JPY", "XXZ", "", "EURO"]),
            "source_token": st.sampled_from(
                ["tok_success", "tok_x", "", "4242" * 4, "tok_\udc00"]
            ),
        },
        optional={
            "capture": st.one_of(st.booleans(), text),
            "customer_email": st.sampled_from(["a@b.example", "nope", ""]),
            "ip_address": st.sampled_from(["127.0.0.1", "::1", "x", None]),
            "metadata": st.dictionaries(text, st.one_of(text, st.integers())),
            "ip_country": text,
        },
    ),
    values,
)


def _outcome(body, providers):
    try:
        return "ok", payment_create_validated(body, enabled_providers=providers)
    except serializers.ValidationError as exc:
        return "error", exc.detail, exc.get_codes()


@settings(max_examples=300, deadline=None)
@given(
    body=create_bodies,
    providers=st.sets(st.sampled_from(["sandbox", "stripe", "adyen", "paypal"])),
)
def test_create_validation_answers_as_drf_does(body, providers) -> None:
    new = _outcome(body, providers)
    with drf_machinery():
        old = _outcome(body, providers)
    assert repr(new) == repr(old)


# Hypothesis bounds are naive; the values drawn are in UTC.
_SINCE = datetime(2000, 1, 1)  # noqa: DTZ001
moments = st.one_of(st.none(), st.datetimes(timezones=st.just(UTC), min_value=_SINCE))


@st.composite
def payments(draw) -> Payment:
    account = draw(
        st.one_of(st.none(), st.builds(ProviderAccount, pk=st.integers(1, 9)))
    )
    if account is not None:
        account.provider = draw(st.sampled_from(["sandbox", "stripe"]))
    payment = Payment(
        public_id=draw(st.from_regex(r"pay_[a-z0-9]{6}", fullmatch=True)),
        order_id=draw(text),
        status=draw(st.sampled_from(PaymentStatus.values)),
        amount=draw(st.integers(0, 10**12)),
        currency=draw(st.sampled_from(["EUR", "JPY", "USD"])),
        amount_authorized=draw(st.integers(0, 10**6)),
        amount_captured=draw(st.integers(0, 10**6)),
        amount_refunded=draw(st.integers(0, 10**6)),
        capture_requested=draw(st.booleans()),
        customer_reference=draw(text),
        customer_email=draw(text),
        account=account,
        provider_reference=draw(text),
        card_brand=draw(st.sampled_from(["", "visa"])),
        card_last4=draw(st.sampled_from(["", "4242"])),
        wallet=draw(st.sampled_from(["", "apple_pay"])),
        failure_code=draw(st.sampled_from(["", "card_declined"])),
        failure_message=draw(text),
        failure_provider_code=draw(text),
        risk_score=draw(st.one_of(st.none(), st.integers(0, 100))),
        risk_level=draw(st.sampled_from(["", "normal", "elevated"])),
        risk_reasons=draw(st.lists(text, max_size=3)),
        review_state=draw(st.sampled_from(["", "pending", "approved"])),
        dispute_status=draw(st.sampled_from(["", "open"])),
        metadata=draw(st.dictionaries(text, text, max_size=3)),
        created_at=draw(moments),
        updated_at=draw(moments),
    )
    if draw(st.booleans()):
        payment.client_secret = draw(text)
        payment.next_action = draw(st.one_of(st.none(), st.dictionaries(text, text)))
    return payment


@settings(max_examples=300, deadline=None)
@given(payment=payments())
def test_payment_data_shows_what_drf_shows(payment) -> None:
    new = payment_data(payment)
    with drf_machinery():
        old = payment_data(payment)
    assert repr(new) == repr(old)
    assert list(new) == payment_serializers.PaymentSerializer.Meta.fields


def _shown(serializer, thing):
    try:
        return "ok", serializer.to_representation(thing)
    except Exception as exc:  # the error is the answer
        return type(exc).__name__, str(exc)


attribute_values = st.one_of(
    text,
    st.builds(lambda v: lambda: v, text),  # a method-like callable
    st.just(lambda: {}["gone"]),  # a callable that raises KeyError
    st.none(),
    st.just(_MISSING := object()),
)


@settings(max_examples=300, deadline=None)
@given(
    cls=st.sampled_from(
        [
            payment_serializers.CardSerializer,
            payment_serializers.FailureSerializer,
            payment_serializers.RiskSerializer,
        ]
    ),
    values=st.dictionaries(
        st.sampled_from(
            [
                "card_brand",
                "card_last4",
                "wallet",
                "failure_code",
                "failure_message",
                "failure_provider_code",
                "risk_score",
                "risk_level",
                "risk_reasons",
            ]
        ),
        attribute_values,
    ),
)
def test_any_object_shows_as_drf_shows_it(cls, values) -> None:
    """Callables, missing attributes and None read as DRF reads them."""
    thing = SimpleNamespace(**{k: v for k, v in values.items() if v is not _MISSING})
    serializer = payment_serializers._bound(cls)
    new = _shown(serializer, thing)
    with drf_machinery():
        old = _shown(serializer, thing)
    assert new == old
