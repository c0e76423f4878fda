"""A label file fetched while a label-state webhook (Shippo's
``transaction_updated``) is handled that is garbled (an HTML page, cut
short, not the format the carrier declared) is not stored and not dropped:
the carrier's next answer may be whole, so the webhook fails with its error
(staff see it) and is retried; a retry that gets the whole file applies it.
A webhook whose own payload is unusable (no label URL) is still noted once,
never retried."""

import json
from datetime import timedelta

import pytest

from integrations.models import Event, WebhookEvent
from integrations.webhooks.services import webhook_event_process
from shipping.models import ShipmentParcel, ShipmentStatus
from tests.shipping.providers.test_shippo import (
    FIXTURES,
    LABEL_URL,
    PDF,
    SECOND_URL,
    TRANSACTION,
    _post_fixture,
    _queued,
    _two_parcels,
    account,  # noqa: F401 (fixture)
    fx,
    listed_by_rate,
    mocked,  # noqa: F401 (fixture)
    second_parcel,
)
from tests.shipping.test_ship_label_webhook_strings import _post

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
GARBLED = {
    "an HTML page": b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
    "a truncated PDF": PDF[: len(PDF) // 2],
    "a PNG declared as PDF": PNG,
    "an empty file": b"",
}


def _retried(shipment) -> WebhookEvent:
    event = WebhookEvent.objects.get()
    assert event.status == "failed", (event.status, event.note)
    assert event.next_attempt_at is not None
    assert "label file" in event.last_error
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert bytes(shipment.label_data) == b""
    assert not Event.objects.filter(name="shipment.label_created").exists()
    return event


@pytest.mark.parametrize("body", GARBLED.values(), ids=GARBLED.keys())
def test_a_garbled_label_file_is_retried_and_a_whole_one_applied(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
    body,
):
    mocked.get(LABEL_URL, body=body)
    shipment = _queued(account)

    response = _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    assert response.status_code == 200
    event = _retried(shipment)
    mocked.replace("GET", LABEL_URL, body=PDF)

    status = webhook_event_process(
        event_id=event.pk, now=event.next_attempt_at + timedelta(seconds=1)
    )

    assert status == "processed"
    shipment.refresh_from_db()
    assert (shipment.status, shipment.carrier_shipment_id) == ("purchased", TRANSACTION)
    assert bytes(shipment.label_data) == PDF
    assert Event.objects.filter(name="shipment.label_created").count() == 1


@pytest.mark.parametrize(
    "file_type, body",
    [
        ("ZPLII", b"^XA^FO40,40^FDShip^FS^XZ\n"),
        ("PNG", PNG),
        ("PDF_4x6", PDF + b"%trailing comment"),
    ],
)
def test_a_whole_file_of_each_declared_format_is_applied(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
    file_type,
    body,
):
    mocked.get(LABEL_URL, body=body)
    shipment = _queued(account)
    payload = json.loads(
        (FIXTURES / "shippo" / "webhook_transaction_updated.json").read_text()
    )
    payload["data"]["label_file_type"] = file_type

    assert _post(payload, django_capture_on_commit_callbacks) == 200

    event = WebhookEvent.objects.get()
    assert event.status == "processed", event.last_error
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert bytes(shipment.label_data) == body


def test_a_zpl_declared_label_that_is_a_pdf_is_retried(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    mocked.get(LABEL_URL, body=PDF)
    shipment = _queued(account)
    payload = json.loads(
        (FIXTURES / "shippo" / "webhook_transaction_updated.json").read_text()
    )
    payload["data"]["label_file_type"] = "ZPLII"

    assert _post(payload, django_capture_on_commit_callbacks) == 200

    _retried(shipment)


def test_a_garbled_parcel_label_file_is_retried(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    listed_by_rate(mocked, second_parcel(), fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=b"<html><body>Gateway Timeout</body></html>")
    shipment = _queued(account, parcels=_two_parcels())

    _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    _retried(shipment)
    assert not ShipmentParcel.objects.exists()


def test_a_webhook_without_a_label_url_is_noted_not_retried(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    shipment = _queued(account)
    payload = json.loads(
        (FIXTURES / "shippo" / "webhook_transaction_updated.json").read_text()
    )
    payload["data"]["label_url"] = "http://deliver.goshippo.com/plain.pdf"

    assert _post(payload, django_capture_on_commit_callbacks) == 200

    event = WebhookEvent.objects.get()
    assert event.status == "processed", event.last_error
    assert "not applied" in event.note
    assert event.next_attempt_at is None
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
