"""Review of ship20's event order: the admin timeline shows a shipment's
newest scans (the one its status follows among them) when it has more than
it lists, not its first hundred; and storing a poll's scans reads the keys
already stored without sorting them (the listing order is for reading)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from shipping.providers.tracking_types import TrackingStatus
from shipping.selectors import shipment_timeline
from tests.factories import ApiKeyFactory
from tests.shipping.test_ship20_event_order import _apply, _bought, _scan

pytestmark = pytest.mark.django_db


def test_the_admin_timeline_of_a_long_journey_keeps_its_newest_scans():
    shipment = _bought()
    start = timezone.now() - timedelta(days=20)
    scans = [
        _scan(TrackingStatus.IN_TRANSIT, start + timedelta(hours=i), f"S{i:03d}")
        for i in range(120)
    ]
    scans.append(_scan(TrackingStatus.DELIVERED, start + timedelta(hours=121), "END"))
    _apply(shipment, *scans)
    shipment.refresh_from_db()
    assert shipment.tracking_status == "delivered"

    listed = [
        e.title.rsplit(": ", 1)[-1]
        for e in shipment_timeline(shipment)
        if e.kind == "tracking"
    ]

    # The newest hundred of 121, oldest first.
    assert listed == [*(f"S{i:03d}" for i in range(21, 120)), "END"]


def test_storing_a_poll_reads_the_known_keys_unsorted():
    shipment = _bought()
    now = timezone.now()
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, now - timedelta(hours=2), "A"))
    with CaptureQueriesContext(connection) as queries:
        _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, now, "B"))
    keys = [q["sql"] for q in queries if '"dedupe_key"' in q["sql"]]
    reads = [sql for sql in keys if sql.lstrip().upper().startswith("SELECT")]
    assert reads
    assert not any("ORDER BY" in sql for sql in reads), reads


def _last_listed(shipment):
    answer = _reader().get(f"/api/v1/shipping/shipments/{shipment.public_id}/")
    assert answer.status_code == 200, answer.content
    return answer.json()["tracking_events"][-1]


def _reader() -> APIClient:
    client = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def test_scans_one_poll_dates_to_the_same_second_list_the_followed_one_last():
    shipment = _bought()
    at = timezone.now() - timedelta(hours=1)
    _apply(
        shipment,
        _scan(TrackingStatus.IN_TRANSIT, at, "X"),
        _scan(TrackingStatus.OUT_FOR_DELIVERY, at, "Y"),
    )
    shipment.refresh_from_db()
    last = _last_listed(shipment)
    assert last["status"] == shipment.tracking_status, last


def test_a_later_poll_scan_dated_to_the_same_second_lists_last_as_followed():
    shipment = _bought()
    at = timezone.now() - timedelta(hours=1)
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, at, "X"))
    _apply(shipment, _scan(TrackingStatus.OUT_FOR_DELIVERY, at, "Y"))
    shipment.refresh_from_db()
    last = _last_listed(shipment)
    assert last["status"] == shipment.tracking_status, last
