"""An operation on a row whose provider account this deploy cannot call (a
retired provider, a bad adapter path, credentials no key opens): nothing is
sent, the storefront gets a 503 in the error shape (not a 500), staff get a
message on the page they were on, and the row is left as it was."""

import uuid

import pytest
from rest_framework.test import APIClient

from integrations.models import ProviderAccount
from payments import services as payments
from payments.models import Payment, PaymentStatus
from shipping.api_examples import RATE_REQUEST
from shipping.models import Shipment, ShipmentStatus
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.integrations.fanout.conftest import threads_db  # noqa: F401
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db


def _client(*scopes: str) -> APIClient:
    client = APIClient()
    key = ApiKeyFactory(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _retire(account: ProviderAccount) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired-gateway")


def _bought(api: APIClient) -> Shipment:
    carrier("old-post")
    quote = api.post("/api/v1/shipping/rates/", RATE_REQUEST, format="json")
    body = {"quote_id": quote.json()["quotes"][0]["quote_id"], "order_id": "o-1"}
    bought = api.post(
        "/api/v1/shipping/shipments/", body, format="json", HTTP_IDEMPOTENCY_KEY="b-1"
    )
    assert bought.status_code == 201, bought.content
    return Shipment.objects.get(public_id=bought.json()["id"])


def _authorized() -> Payment:
    account = ProviderAccountFactory(slug="sbx-old", priority=1)
    payment = payments.payment_create(
        order_id="o-1", amount=1050, currency="EUR", source_token="tok_success",
        capture=False, idempotency_key=uuid.uuid4().hex,
    )  # fmt: skip
    assert payment.status == PaymentStatus.AUTHORIZED
    _retire(account)
    return payment


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "provider_unavailable"
    assert "retired-gateway" not in error["message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_a_shipment_void_on_an_uncallable_account_is_a_503():
    api = _client("shipping:read", "shipping:write")
    shipment = _bought(api)
    _retire(shipment.account)
    url = f"/api/v1/shipping/shipments/{shipment.public_id}/void/"
    _assert_unavailable(api.post(url, HTTP_IDEMPOTENCY_KEY="v-1"))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED


def test_a_payment_capture_on_an_uncallable_account_is_a_503():
    api = _client("payments:read", "payments:write")
    payment = _authorized()
    url = f"/api/v1/payments/{payment.public_id}/capture/"
    _assert_unavailable(api.post(url, {}, HTTP_IDEMPOTENCY_KEY="c-1"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
    # The 503 is not the key's stored answer: the same key may try again.
    _assert_unavailable(api.post(url, {}, HTTP_IDEMPOTENCY_KEY="c-1"))


def test_a_payment_void_on_an_uncallable_account_is_a_503():
    api = _client("payments:read", "payments:write")
    payment = _authorized()
    url = f"/api/v1/payments/{payment.public_id}/void/"
    _assert_unavailable(api.post(url, {}, HTTP_IDEMPOTENCY_KEY="v-1"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
@pytest.mark.parametrize("operation", ["void", "track"])
def test_shipment_buttons_on_an_uncallable_account_say_so(admin_client, operation):
    shipment = _bought(_client("shipping:read", "shipping:write"))
    _retire(shipment.account)
    url = f"/admin/shipping/shipment/{shipment.pk}/{operation}/"
    page = f"/admin/shipping/shipment/{shipment.pk}/change/"
    response = admin_client.post(url, HTTP_REFERER=f"http://testserver{page}")
    assert (response.status_code, response["Location"]) == (
        302,
        f"http://testserver{page}",
    )
    said = admin_client.get(page)
    text = " ".join(str(m) for m in said.context["messages"])
    assert "cannot be called" in text, text
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED


@pytest.mark.parametrize("operation", ["capture", "void"])
def test_payment_buttons_on_an_uncallable_account_say_so(admin_client, operation):
    payment = _authorized()
    url = f"/admin/payments/payment/{payment.pk}/{operation}/"
    response = admin_client.post(url, follow=True)
    assert response.status_code == 200
    text = " ".join(str(m) for m in response.context["messages"])
    assert "cannot be called" in text, text
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
