"""pay46: the plain-body shortcut of the create validation answers what
DRF's own run answers, and answers (not None) for a storefront's bodies."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from integrations.api import plain_bodies
from payments.serializers import PaymentCreateSerializer

PROVIDERS = {"sandbox", "stripe"}


def _serializer() -> PaymentCreateSerializer:
    serializer = PaymentCreateSerializer(context={"enabled_providers": PROVIDERS})
    plain_bodies.surrogates_searched(serializer)
    return serializer


def _drf(body):
    try:
        return "ok", _serializer().run_validation(body)
    except serializers.ValidationError as exc:
        return "error", exc.detail


BASE = {
    "order_id": "order-1001",
    "amount": 1050,
    "currency": "EUR",
    "source_token": "tok_success",
}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"capture": False, "customer_reference": "cust-42"},
        {"customer_email": "ada@example.com", "metadata": {"cart": "c-77"}},
        {"order_id": "  padded  ", "currency": "eur", "metadata": {"a": "  "}},
        {"metadata": {"note": " kept ", "empty": ""}, "ip_country": "DE"},
        {"ip_address": "127.0.0.1", "billing_country": "FR"},
        {"ip_address": None, "card_fingerprint": "fp_1"},
        {"amount": 99_999_999, "currency": "JPY", "metadata": {}},
        {"order_id": "x" * 128, "metadata": {"a": "y" * 500}},  # at the bounds
        {"amount": 1, "order_id": " " + "x" * 128 + " "},
    ],
)
def test_a_plain_body_is_answered_as_drf_answers_it(extra) -> None:
    body = {**BASE, **extra}
    quick = plain_bodies.validated(_serializer(), body)
    assert quick is not None
    assert ("ok", quick) == _drf(body)
    assert list(quick) == list(_drf(body)[1])


@pytest.mark.parametrize(
    "extra",
    [
        {"amount": True},  # a bool is no integer to DRF
        {"amount": "1050"},  # DRF converts it: its own run decides
        {"order_id": 1001},
        {"order_id": "x" * 129},
        {"currency": "EU"},
        {"amount": 0},
        {"order_id": "   "},
        {"customer_reference": ""},
        {"customer_email": "nope"},
        {"currency": "EURO"},
        {"currency": "XXZ"},
        {"capture": "true"},
        {"metadata": {"a": 1}},
        {"metadata": {"a": None}},
        {"metadata": {"a": "x" * 501}},
        {"order_id": "a\x00b"},
        {"order_id": "a\ud800"},
        {"source_token": None},
        {"amount": 10**12},
        {"metadata": {"recurring_charge": "x"}},  # reserved: refused by validate()
    ],
)
def test_anything_else_is_left_to_drf(extra) -> None:
    body = {**BASE, **extra}
    assert plain_bodies.validated(_serializer(), body) is None


def test_a_missing_required_field_is_left_to_drf() -> None:
    body = {k: v for k, v in BASE.items() if k != "amount"}
    assert plain_bodies.validated(_serializer(), body) is None
    assert _drf(body)[0] == "error"


texts = st.text(st.characters(exclude_categories=()), max_size=8)
# Mostly what a storefront sends; now and then blank, padded or hostile.
plain_texts = st.one_of(
    st.sampled_from(["x", " y ", "a\u00a0", "tok_success", "\u3000z\t"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x3000), max_size=8),
    st.text(st.characters(min_codepoint=33, max_codepoint=0x7E), min_size=1),
)
drawn_texts = st.one_of(plain_texts, plain_texts, texts)
countries = st.sampled_from(["DE", " fr ", "", "DEU", "d\u00e9"])


def _sometimes(plain, other):
    return st.one_of(plain, plain, plain, other)


plain_bodies_drawn = st.fixed_dictionaries(
    {
        "order_id": drawn_texts,
        "amount": _sometimes(
            st.integers(1, 10**6), st.one_of(st.integers(-2, 10**12), st.booleans())
        ),
        "currency": st.sampled_from(["EUR", "eur", " usd ", "JPY", "EUR", "XXZ"]),
        "source_token": st.sampled_from(["tok_success", " tok_x ", "4242" * 4]),
    },
    optional={
        "capture": _sometimes(st.booleans(), st.sampled_from([None, 1, "true"])),
        "customer_reference": drawn_texts,
        "customer_email": st.sampled_from(["a@b.example", " a@b.example ", "x", ""]),
        "ip_address": st.sampled_from(["127.0.0.1", "::1", "x", None]),
        "ip_country": _sometimes(countries, drawn_texts),
        "billing_country": _sometimes(countries, drawn_texts),
        "card_fingerprint": drawn_texts,
        "metadata": _sometimes(
            st.dictionaries(st.sampled_from(["cart", "a b", "é"]), drawn_texts),
            st.one_of(st.none(), st.dictionaries(drawn_texts, drawn_texts)),
        ),
    },
)

_PLAIN_TYPES = {"amount": int, "capture": bool, "metadata": dict, "ip_address": object}


def _plainly_typed(body) -> bool:
    """Each value of the type the shortcut takes as it stands."""
    for name, value in body.items():
        kind = _PLAIN_TYPES.get(name, str)
        if type(value) is not kind and kind is not object:
            return False
    return all(type(v) is str for v in body.get("metadata", {}).values())


@settings(max_examples=400, deadline=None)
@given(body=plain_bodies_drawn)
def test_any_near_plain_body_is_answered_as_drf_answers_it(body) -> None:
    quick = plain_bodies.validated(_serializer(), body)
    drf = _drf(body)
    if quick is not None:
        assert drf == ("ok", quick)
        assert list(quick) == list(drf[1])
    elif drf[0] == "ok":  # DRF takes it: the shortcut must, if plainly typed
        assert not _plainly_typed(body), body


class _Upper(serializers.CharField):
    """A field with a run_validators of its own: DRF's run must call it."""

    def run_validators(self, value):
        if value != value.upper():
            raise serializers.ValidationError("upper case only")
        super().run_validators(value)


class _Mapped(serializers.Serializer):
    name = serializers.CharField()

    def to_internal_value(self, data):
        return {"name": "mapped"}


class _Checked(serializers.Serializer):
    name = _Upper()
    count = serializers.IntegerField()


def test_a_serializer_validating_its_own_way_is_left_to_drf() -> None:
    assert plain_bodies.validated(_Mapped(), {"name": "x"}) is None


def test_a_field_validating_its_own_way_runs_through_drf() -> None:
    assert plain_bodies.validated(_Checked(), {"name": "ab", "count": 1}) is None
    answer = plain_bodies.validated(_Checked(), {"name": "AB", "count": 1})
    assert answer == {"name": "AB", "count": 1}
