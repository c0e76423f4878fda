"""``LeasedRows.release_expired`` with nothing expired, the sweeps' usual
case: one read, not two locking UPDATEs each in its own transaction."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import DeliveryStatus, Event, EventDelivery
from tests.integrations.test_leases import ROWS

pytestmark = pytest.mark.django_db


def _claimed(now) -> EventDelivery:
    event = Event.objects.create(name="payment.captured")
    row = EventDelivery.objects.create(event=event, subscriber="a.b")
    assert ROWS.claim(row.pk, now)
    return row


def test_nothing_expired_is_one_read_and_changes_nothing() -> None:
    now = timezone.now()
    row = _claimed(now)

    with CaptureQueriesContext(connection) as queries:
        assert ROWS.release_expired(now) == (0, 0)

    assert len(queries) == 1, [q["sql"] for q in queries]
    assert not queries[0]["sql"].lstrip().upper().startswith("UPDATE")
    row.refresh_from_db()
    assert row.status == DeliveryStatus.DELIVERING


def test_expired_rows_are_still_taken_back() -> None:
    now = timezone.now()
    retrying, dead = _claimed(now), _claimed(now)
    EventDelivery.objects.filter(pk=dead.pk).update(
        attempts=settings.EVENT_MAX_ATTEMPTS
    )
    lease = timedelta(seconds=settings.EVENT_DELIVERY_LEASE_SECONDS + 1)

    assert ROWS.release_expired(now + lease) == (1, 1)

    retrying.refresh_from_db()
    dead.refresh_from_db()
    assert retrying.status == DeliveryStatus.FAILED
    assert dead.status == DeliveryStatus.DEAD
