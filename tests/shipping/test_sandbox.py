"""The sandbox carrier through its public operations: deterministic prices,
real label files, remembered labels, tracking that advances with time."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import registry
from integrations.errors import Rejected, Unknown
from integrations.models import ProviderCall
from shipping.providers import sandbox_rules
from shipping.providers.base import (
    LabelFormat,
    LabelLookup,
    PickupCancellation,
    VoidRequest,
)
from shipping.providers.tracking_types import TrackingStatus, TrackRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests

pytestmark = pytest.mark.django_db


def _adapter(**settings):
    account = ProviderAccountFactory(kind="shipping", settings=settings)
    return registry.get_adapter(account)


def test_rates_by_zone_weight_and_service():
    rates = _adapter().rates(requests.rate_request())
    table = {r.service_code: (r.amount, r.currency, r.transit_days) for r in rates}
    # Zone 2 (same country, other region), 2.5 lb = 2 started kg.
    assert table == {
        "SBX_GROUND": (840, "USD", 3),
        "SBX_EXPRESS": (2040, "USD", 1),
        "SBX_OVERNIGHT": (3960, "USD", 1),
    }
    abroad = _adapter(price_factor=1.5, currency="eur").rates(
        requests.international_rate_request()
    )
    assert {r.service_code for r in abroad} == {"SBX_GROUND", "SBX_EXPRESS"}
    ground = next(r for r in abroad if r.service_code == "SBX_GROUND")
    assert (ground.amount, ground.currency) == (2520, "EUR")  # 700 * 2.4 * 1.5


def test_rates_filtered_by_service_and_refused_address():
    adapter = _adapter()
    only = adapter.rates(requests.rate_request(service_codes=("SBX_EXPRESS",)))
    assert [r.service_code for r in only] == ["SBX_EXPRESS"]
    bad = replace(requests.RECIPIENT, postal_code=sandbox_rules.INVALID_POSTCODE)
    with pytest.raises(Rejected) as info:
        adapter.rates(requests.rate_request(to_address=bad))
    assert info.value.code == "address_invalid"


@pytest.mark.parametrize(
    ("label_format", "magic"),
    [(LabelFormat.PDF, b"%PDF-1.4"), (LabelFormat.ZPL, b"^XA")],
)
def test_a_label_is_a_real_file_and_its_key_sells_it_once(label_format, magic):
    adapter = _adapter()
    request = requests.label_request("SBX_GROUND", label_format=label_format)
    label = adapter.create_label(request)
    assert label.label_data.startswith(magic)
    assert label.tracking_number.startswith("SBXN")
    if label_format == LabelFormat.PDF:
        assert label.label_data.rstrip().endswith(b"%%EOF")
        assert label.tracking_number.encode() in label.label_data
    again = adapter.create_label(request)
    assert again.tracking_number == label.tracking_number
    found = adapter.retrieve_label(
        LabelLookup(idempotency_key=request.idempotency_key, reference="shp_x")
    )
    assert found is not None and found.tracking_number == label.tracking_number
    missing = LabelLookup(idempotency_key="never-used", reference="shp_x")
    assert adapter.retrieve_label(missing) is None


def test_a_lost_answer_leaves_a_label_reconciliation_finds():
    adapter = _adapter(lose_label_answers=True)
    request = requests.label_request("SBX_EXPRESS")
    with pytest.raises(Unknown) as info:
        adapter.create_label(request)
    assert info.value.code == "read_timeout"
    lookup = LabelLookup(idempotency_key=request.idempotency_key, reference="r")
    assert adapter.retrieve_label(lookup) is not None
    assert ProviderCall.objects.filter(operation="create_label").get().outcome == (
        "unknown"
    )


def test_tracking_advances_with_time_and_voids_stop_in_transit(settings):
    adapter = _adapter(tracking_step_seconds=60)
    label = adapter.create_label(requests.label_request("SBX_GROUND"))
    info = adapter.track(TrackRequest(tracking_number=label.tracking_number))
    assert [e.status for e in info.events] == [TrackingStatus.PRE_TRANSIT]
    later = sandbox_rules.tracking_number(
        created_at=timezone.now() - timedelta(seconds=245), key="k", exception=False
    )
    info = adapter.track(TrackRequest(tracking_number=later))
    assert info.status == TrackingStatus.DELIVERED and len(info.events) == 5
    void = VoidRequest(
        carrier_shipment_id=later, tracking_number=later, idempotency_key="v"
    )
    assert not adapter.void_label(void).voided
    fresh = VoidRequest(
        carrier_shipment_id=label.tracking_number,
        tracking_number=label.tracking_number,
        idempotency_key="v2",
    )
    assert adapter.void_label(fresh).voided


def test_an_exception_parcel_goes_back():
    number = sandbox_rules.tracking_number(
        created_at=timezone.now() - timedelta(seconds=6 * 600), key="k", exception=True
    )
    info = _adapter().track(TrackRequest(tracking_number=number))
    statuses = [e.status for e in info.events]
    assert statuses[-2:] == [TrackingStatus.EXCEPTION, TrackingStatus.RETURNED]


def test_pickups_and_address_validation():
    adapter = _adapter()
    validation = adapter.validate_address(
        replace(requests.RECIPIENT, city=" springfield ")
    )
    assert validation.valid and validation.address.city == "SPRINGFIELD"
    bad = replace(requests.RECIPIENT, postal_code=sandbox_rules.INVALID_POSTCODE)
    assert not adapter.validate_address(bad).valid
    with pytest.raises(Rejected) as info:
        adapter.cancel_pickup(
            PickupCancellation(
                confirmation_number="nope",
                pickup_date=timezone.localdate(),
                address=requests.SHIPPER,
            )
        )
    assert info.value.code == "not_found"
