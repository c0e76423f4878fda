"""Review of ship21 (UPS ``NA`` read as pre-transit): a parcel already
moving never goes back when UPS later answers ``NA``. Its status stays in
transit, what the storefront hears says in transit, and its void is still
refused before UPS is asked (the moving scan is stored)."""

import pytest
import responses

from integrations.events import Event
from shipping import services
from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.test_ship21_ups_not_available import (
    LABEL,
    NOT_AVAILABLE,
    _activity,
    _polled,
    bought,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.django_db

PICKUP_SCAN = ("P", "XA", "Pickup Scan")


def test_a_later_not_available_never_moves_a_parcel_back(bought):  # noqa: F811
    _polled(bought, _activity(*PICKUP_SCAN, 20), _activity(*LABEL, 30))
    assert bought.tracking_status == TrackingStatus.IN_TRANSIT

    # The next poll: UPS's newest entry is "not available".
    _polled(
        bought,
        _activity(*NOT_AVAILABLE, 1),
        _activity(*PICKUP_SCAN, 20),
        _activity(*LABEL, 30),
    )

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    sent = Event.objects.filter(name="shipment.tracking_updated")
    assert {e.payload["tracking_status"] for e in sent} == {"in_transit"}
    assert not Event.objects.filter(payload__tracking_status="pre_transit").exists()
    assert services.shipment_has_moved(shipment=bought)
    with responses.RequestsMock() as mocked:
        with pytest.raises(services.ShippingError) as refused:
            services.shipment_void(shipment=bought)
        assert not mocked.calls
    assert refused.value.code == "in_transit"
