"""Every string the payments API takes fits the column it is stored in: a
longer one is a 400 naming the field, never a 500 from the INSERT (after a
gateway may have acted)."""

import uuid

import pytest

from payments.models import Payment, SandboxCharge, SavedPaymentMethod

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/payments/"
# A valid address of 269 characters: Django's validator takes up to 320,
# the column (EmailField's default) holds 254.
LONG_EMAIL = "a" * 200 + "@" + "b" * 60 + ".example"


def post(api, url: str, data: dict):
    return api.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def body(**overrides: object) -> dict:
    values = {"order_id": "order-len", "amount": 1050, "currency": "EUR"}
    values.update({"source_token": "tok_success", "capture": True, **overrides})
    return values


def test_a_customer_email_longer_than_its_column_is_a_400(api, primary):
    response = post(api, URL, body(customer_email=LONG_EMAIL))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "customer_email"
    assert not Payment.objects.exists()
    assert not SandboxCharge.objects.exists()


def test_a_customer_email_as_long_as_its_column_is_taken(api, primary):
    email = "a" * 185 + "@" + "b" * 60 + ".example"
    assert len(email) == Payment._meta.get_field("customer_email").max_length
    response = post(api, URL, body(customer_email=email))
    assert response.status_code == 201, response.content
    assert Payment.objects.get().customer_email == email


def test_a_customer_reference_longer_than_its_column_saves_no_method(api, primary):
    """The customer comes from the path: over 128 characters it is a 400
    before the gateway is asked to keep the card."""
    url = f"/api/v1/customers/{'c' * 129}/payment-methods/"
    response = post(api, url, {"source_token": "tok_mastercard"})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "customer_reference"
    assert not SavedPaymentMethod.objects.exists()
    ok = post(api, f"/api/v1/customers/{'c' * 128}/payment-methods/", {})
    assert ok.status_code == 400  # no source token: the path itself passed
    assert ok.json()["error"]["param"] == "source_token"
