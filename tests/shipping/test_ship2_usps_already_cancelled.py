"""A USPS void retried after a lost answer: USPS documents a cancel of a
label already cancelled as a 400 whose error code is 160186 "Order already
canceled" (USPS/api-examples, Error Inventory, Domestic Labels Outbound,
``DELETE /labels/v3/label/{trackingNumber}``). That is the label void, the
void we wanted: the shipment is voided and announced once, never refused.
Its other documented refusals (160184 "Order cannot be canceled", 160174
labels on a SCAN Form) stay refusals."""

import pytest
import responses

from integrations.events import Event
from shipping import services
from shipping.models import ShipmentAttempt, ShipmentStatus
from tests.shipping.providers.wire import load
from tests.shipping.test_ship_usps_void import (
    BASE,
    DELETE_URL,
    bought,  # noqa: F401 (fixture)
)

pytestmark = pytest.mark.django_db


def _refusal(code: str, detail: str) -> dict:
    body = load("usps", "error_validation.json")
    body["error"]["errors"][0].update(
        {
            "code": code,
            "detail": detail,
            "source": {"parameter": "trackingNumber", "example": ""},
        }
    )
    return body


def _void(shipment, body: dict):
    with responses.RequestsMock() as mocked:
        mocked.post(f"{BASE}/oauth2/v3/token", json=load("usps", "oauth_token.json"))
        mocked.post(
            f"{BASE}/payments/v3/payment-authorization",
            json=load("usps", "payment_authorization.json"),
        )
        mocked.delete(DELETE_URL, status=400, json=body)
        return services.shipment_void(shipment=shipment)


def test_an_already_cancelled_label_is_voided(bought):  # noqa: F811
    voided = _void(bought, _refusal("160186", "Order already canceled"))

    assert voided.status == ShipmentStatus.VOIDED
    bought.refresh_from_db()
    assert bought.status == ShipmentStatus.VOIDED
    assert Event.objects.filter(name="shipment.voided").count() == 1
    attempt = ShipmentAttempt.objects.get(shipment=bought, operation="void_label")
    assert attempt.outcome == "succeeded"


@pytest.mark.parametrize(
    "code, detail",
    [
        ("160184", "Order cannot be canceled"),
        ("160174", "Labels associated with a scan form cannot be canceled"),
    ],
)
def test_other_documented_refusals_stay_refusals(bought, code, detail):  # noqa: F811
    with pytest.raises(services.ShippingError) as refused:
        _void(bought, _refusal(code, detail))

    assert refused.value.code == "void_refused"
    bought.refresh_from_db()
    assert bought.status == ShipmentStatus.PURCHASED
    assert not Event.objects.filter(name="shipment.voided").exists()
