"""A multi-parcel label settled by Shippo's ``transaction_updated`` webhook:
the other parcels' labels, listed by rate afterwards, are checked as any
carrier answer is (``shipping.providers.answers``). A parcel tracking number
or transaction id that cannot be stored is never cut to fit (a cut number is
a wrong one): the event is noted, not applied, and the shipment left for the
sweep and staff, as for a single parcel's unstorable answer."""

import pytest

from integrations.models import Event, WebhookEvent
from shipping.models import ShipmentParcel, ShipmentStatus
from tests.shipping.providers.test_shippo import (
    LABEL_URL,
    PDF,
    SECOND_NUMBER,
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

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "field, value",
    [
        ("tracking_number", "9" * 65),
        ("tracking_number", "9205\ufffd5"),
        ("object_id", "a" * 65),
    ],
)
def test_an_unstorable_parcel_of_a_label_webhook_is_noted_not_cut(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
    field,
    value,
):
    listed_by_rate(
        mocked, {**second_parcel(), field: value}, fx("transaction_success.json")
    )
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF + b"%second")
    shipment = _queued(account, parcels=_two_parcels())

    response = _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    assert response.status_code == 200
    event = WebhookEvent.objects.get(account=account)
    assert event.status == "processed", event.last_error
    assert "not applied" in event.note
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.tracking_number == ""
    assert not ShipmentParcel.objects.exists()
    assert not Event.objects.filter(name="shipment.label_created").exists()


def test_a_storable_multi_parcel_webhook_is_still_applied(
    account,  # noqa: F811
    mocked,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    listed_by_rate(mocked, second_parcel(), fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF + b"%second")
    shipment = _queued(account, parcels=_two_parcels())

    _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    shipment.refresh_from_db()
    assert (shipment.status, shipment.carrier_shipment_id) == (
        ShipmentStatus.PURCHASED,
        TRANSACTION,
    )
    numbers = list(
        shipment.parcel_labels.order_by("sequence").values_list(
            "tracking_number", flat=True
        )
    )
    assert numbers[1] == SECOND_NUMBER
    assert WebhookEvent.objects.get(account=account).note == ""
