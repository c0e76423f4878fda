"""A validly signed label-state webhook (Shippo's ``transaction_updated``)
whose id or tracking number cannot be stored (over-long for its column, a
control character, a NUL the intake replaced by U+FFFD) is not applied: the
event is processed with a note for staff (the same body fails the same way
every time, so it is not retried until dead), the shipment is left as it was
(``unknown``, for the sweep and staff), and no row keeps the bad value."""

import json

import pytest
from django.test import Client

from integrations.models import Event, WebhookEvent
from shipping.models import Shipment, ShipmentStatus
from tests.shipping.providers.test_shippo import (
    FIXTURES,
    HOOK_TOKEN,
    LABEL_URL,
    PDF,
    TRANSACTION,
    _queued,
    account,  # noqa: F401 (fixture)
    mocked,  # noqa: F401 (fixture)
)

pytestmark = pytest.mark.django_db


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / "shippo" / name).read_text())


def _post(body: dict, callbacks) -> int:
    with callbacks(execute=True):
        answer = Client().post(
            f"/webhooks/shippo-main/?token={HOOK_TOKEN}",
            data=json.dumps(body),
            content_type="application/json",
        )
    return answer.status_code


def _lost(account) -> Shipment:  # noqa: F811
    # The buy's answer was lost: the webhook finds it by our reference.
    return _queued(account, carrier_shipment_id="", public_id="shp_contract")


def _left_alone(shipment: Shipment) -> None:
    event = WebhookEvent.objects.get()
    assert event.status == "processed", event.last_error
    assert "not applied" in event.note
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert (shipment.carrier_shipment_id, shipment.tracking_number) == ("", "")
    assert not Event.objects.filter(name="shipment.label_created").exists()


@pytest.mark.parametrize("object_id", ["a" * 129, "915d\x00", "915d\x1b[0m"])
def test_a_failed_transaction_with_an_unstorable_id_is_not_applied(
    account,  # noqa: F811
    django_capture_on_commit_callbacks,
    object_id,
):
    shipment = _lost(account)
    body = _fixture("webhook_transaction_error.json")
    body["data"]["object_id"] = object_id

    assert _post(body, django_capture_on_commit_callbacks) == 200

    _left_alone(shipment)


@pytest.mark.parametrize("number", ["9" * 65, "9205\x005"])
def test_a_made_label_with_an_unstorable_tracking_number_is_not_applied(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
    number,
):
    mocked.get(LABEL_URL, body=PDF)
    shipment = _lost(account)
    body = _fixture("webhook_transaction_updated.json")
    body["data"]["tracking_number"] = number

    assert _post(body, django_capture_on_commit_callbacks) == 200

    _left_alone(shipment)


def test_a_storable_label_webhook_is_still_applied(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    mocked.get(LABEL_URL, body=PDF)
    shipment = _lost(account)

    assert (
        _post(
            _fixture("webhook_transaction_updated.json"),
            django_capture_on_commit_callbacks,
        )
        == 200
    )

    shipment.refresh_from_db()
    assert (shipment.status, shipment.carrier_shipment_id) == ("purchased", TRANSACTION)
    assert WebhookEvent.objects.get().note == ""
