"""USPS void: the Labels API v3 answers a cancel (``DELETE
/labels/v3/label/{trackingNumber}``) with a ``CancelResponse`` whose
``status`` is CANCELED (the label is cancelled) or DISPUTED (a refund request
submitted, not a cancel). An answer that does not say CANCELED never marks the
label voided: without a status the answer is unreadable, so the void may or
may not have landed (``unknown``: 502 ``carrier_unknown``, the shipment stays
bought for a retry); a status the documentation does not list is not a void."""

import pytest
import responses

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentAttempt, ShipmentStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

BASE = "https://api-cat.usps.com"
NUMBER = "9205590109769900012613"
DELETE_URL = f"{BASE}/labels/v3/label/{NUMBER}"

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought() -> Shipment:
    account = ProviderAccountFactory(
        kind="shipping",
        provider="usps",
        settings={
            "crid": "56982563",
            "mid": "904128936",
            "account_number": "1000115566",
            "max_attempts": 1,
        },
        credentials={"client_id": "usps-key", "client_secret": "usps-secret"},
    )
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="PRIORITY_MAIL",
        amount=910,
        currency="USD",
        idempotency_key="usps-1",
        status=ShipmentStatus.PURCHASED,
        tracking_number=NUMBER,
        carrier_shipment_id=NUMBER,
    )


def _void_answered(bought: Shipment, **answer) -> pytest.ExceptionInfo:
    with responses.RequestsMock() as mocked:
        mocked.post(f"{BASE}/oauth2/v3/token", json=load("usps", "oauth_token.json"))
        mocked.post(
            f"{BASE}/payments/v3/payment-authorization",
            json=load("usps", "payment_authorization.json"),
        )
        mocked.delete(DELETE_URL, **answer)
        with pytest.raises(services.ShippingError) as refused:
            services.shipment_void(shipment=bought)
    return refused


def _still_bought(bought: Shipment) -> None:
    bought.refresh_from_db()
    assert (bought.status, bought.void_started_at) == (ShipmentStatus.PURCHASED, None)
    assert not Event.objects.filter(name="shipment.voided").exists()


@pytest.mark.parametrize(
    "answer",
    [{"json": {"trackingNumber": NUMBER}}, {"json": {}}, {"body": ""}],
    ids=["no-status", "empty-object", "empty-body"],
)
def test_a_cancel_answer_without_a_status_is_unknown_not_a_void(bought, answer):
    refused = _void_answered(bought, **answer)

    assert (refused.value.code, refused.value.status_code) == ("carrier_unknown", 502)
    _still_bought(bought)
    attempt = ShipmentAttempt.objects.get(shipment=bought, operation="void_label")
    assert attempt.outcome == "unknown"


def test_a_status_usps_does_not_document_is_not_a_void(bought):
    refused = _void_answered(
        bought, json={"trackingNumber": NUMBER, "status": "PENDING"}
    )

    assert refused.value.code == "void_refused"
    _still_bought(bought)
