"""pay41b: saving a card with a saved payment method's gateway id as its
source token is refused at our API, before any gateway call, with the
payment create's answer (pay41: 400 invalid_source_token, the same message
whoever's id it is and for an unknown one of that form). It was refused
only at the gateway."""

import uuid

import pytest

from integrations.models import ProviderCall
from payments import services
from payments.models import SavedPaymentMethod
from payments.providers.sandbox import METHOD_PREFIX
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _methods_url(customer: str) -> str:
    return f"/api/v1/customers/{customer}/payment-methods/"


@pytest.fixture
def alice_card(primary) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="alice-41b",
        source_token="tok_success",
        idempotency_key="pay41b-alice",
    )


def _save(api, token: str, customer: str = "mallory-41b"):
    return api.post(
        _methods_url(customer),
        {"source_token": token},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _refused(response) -> dict:
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_source_token"
    # Nothing stored, nothing sent; nothing says whose card it is.
    assert not SavedPaymentMethod.objects.exclude(
        customer_reference="alice-41b"
    ).exists()
    assert not ProviderCall.objects.filter(operation="save_method").exists()
    assert "alice" not in response.content.decode()
    return error


def _payment_refusal(api, token: str) -> dict:
    body = {"order_id": "o-41b", "amount": 5_000, "currency": "EUR"}
    response = api.post(
        "/api/v1/payments/",
        {**body, "source_token": token},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 400, response.json()
    return response.json()["error"]


@pytest.mark.parametrize("customer", ["mallory-41b", "alice-41b"])
def test_a_saved_card_id_is_refused_before_the_gateway(api, alice_card, customer):
    ProviderCall.objects.all().delete()
    _refused(_save(api, alice_card.provider_method_id, customer))


def test_the_answer_is_the_payment_creates_and_the_same_for_an_unknown_id(
    api, alice_card
):
    ProviderCall.objects.all().delete()
    known = _refused(_save(api, alice_card.provider_method_id))
    unknown = _refused(_save(api, METHOD_PREFIX + "0" * 24))

    assert known == unknown
    assert known == _payment_refusal(api, alice_card.provider_method_id)


def test_a_stored_id_of_a_form_one_time_tokens_share_is_refused(api, primary):
    stripe = ProviderAccountFactory(slug="stripe-41b", provider="stripe", priority=5)
    SavedPaymentMethod.objects.create(
        customer_reference="alice-41b",
        account=stripe,
        provider_customer_id="cus_41b",
        provider_method_id="pm_1Alice41b",
    )

    _refused(_save(api, "pm_1Alice41b"))


def test_a_one_time_token_is_still_saved(api, primary):
    response = _save(api, "tok_success")

    assert response.status_code == 201, response.json()
    assert SavedPaymentMethod.objects.filter(customer_reference="mallory-41b").exists()
