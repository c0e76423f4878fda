"""pay41: a saved payment method's gateway id sent to the payments API as a
one-time source token is refused at our API, before any gateway call, with
400 invalid_source_token: whoever's id it is (the customer's own, another's,
none given) and for one of that form we do not know, the same answer, so
nothing tells whether that id exists or whose it is. The gateway charges a
saved method only with its customer, which a token's create never sends:
it was found out there, a failed payment stored (pay40's sandbox rule)."""

import uuid

import pytest

from integrations.models import ProviderCall
from payments import services
from payments.models import Payment, SandboxCharge, SavedPaymentMethod
from payments.providers.sandbox import METHOD_PREFIX
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments/"


@pytest.fixture
def alice_card(primary) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="alice-41",
        source_token="tok_success",
        idempotency_key="pay41-alice",
    )


def _create(api, token: str, customer: str = "", order: str = "o-41"):
    body = {"order_id": order, "amount": 5_000, "currency": "EUR"}
    body["source_token"] = token
    if customer:
        body["customer_reference"] = customer
    return api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def _refused(response, order: str = "o-41") -> dict:
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_source_token"
    # Nothing stored, nothing sent.
    assert not Payment.objects.filter(order_id=order).exists()
    assert SandboxCharge.objects.filter(kind="payment").count() == 0
    assert not ProviderCall.objects.filter(operation="create_payment").exists()
    # Nothing in the answer says whose card it is.
    text = response.content.decode()
    assert "alice" not in text
    return error


@pytest.mark.parametrize("customer", ["mallory-41", ""])
def test_another_customers_saved_card_id_is_refused_before_the_gateway(
    api, alice_card, customer
):
    _refused(_create(api, alice_card.provider_method_id, customer))


def test_the_customers_own_saved_card_id_is_refused_as_a_token(api, alice_card):
    # The gateway would refuse it too: a token's create sends no customer.
    _refused(_create(api, alice_card.provider_method_id, "alice-41"))


def test_an_unknown_saved_card_id_gets_the_same_answer(api, alice_card):
    known = _refused(_create(api, alice_card.provider_method_id, "mallory-41"))
    unknown_id = METHOD_PREFIX + "0" * 24
    unknown = _refused(_create(api, unknown_id, "mallory-41", order="o-41b"), "o-41b")
    assert known == unknown


def test_a_stored_id_of_a_form_one_time_tokens_share_is_refused(api, primary):
    # Stripe's PaymentMethod ids: Stripe.js makes one-off ones of that form
    # too, so only one we store is refused (before any call to Stripe).
    stripe = ProviderAccountFactory(slug="stripe-41", provider="stripe", priority=5)
    SavedPaymentMethod.objects.create(
        customer_reference="alice-41",
        account=stripe,
        provider_customer_id="cus_41",
        provider_method_id="pm_1Alice41",
    )

    _refused(_create(api, "pm_1Alice41", "mallory-41"))


def test_a_one_time_token_is_still_charged(api, alice_card):
    response = _create(api, "tok_success", "mallory-41")
    assert response.status_code == 201, response.json()
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
