"""``integrations.leases``: a claimed row's failure, kept as its users need."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.leases import ClaimLost, LeasedRows
from integrations.models import DeliveryStatus, Event, EventDelivery

pytestmark = pytest.mark.django_db

ROWS = LeasedRows(
    model=EventDelivery,
    waiting=DeliveryStatus.PENDING,
    running=DeliveryStatus.DELIVERING,
    failed=DeliveryStatus.FAILED,
    dead=DeliveryStatus.DEAD,
    created_field="created_at",
    settings_prefix="EVENT",
    lease_setting="EVENT_DELIVERY_LEASE_SECONDS",
    lost_error="worker lost",
)


def _claimed(now) -> EventDelivery:
    event = Event.objects.create(name="payment.captured")
    row = EventDelivery.objects.create(event=event, subscriber="a.b")
    assert ROWS.claim(row.pk, now)
    return EventDelivery.objects.get(pk=row.pk)


def test_fail_keeps_the_error_after_its_prefix_and_schedules_the_retry(settings):
    settings.EVENT_RETRY_BASE_SECONDS = 30
    now = timezone.now()
    row = _claimed(now)

    status = ROWS.fail(row, ValueError("no"), now, error_prefix="Ours: ")

    row.refresh_from_db()
    assert status == row.status == DeliveryStatus.FAILED
    assert row.last_error == "Ours: ValueError: no"
    assert row.next_attempt_at == now + timedelta(seconds=30)


def test_fail_of_a_row_out_of_attempts_is_dead(settings):
    settings.EVENT_MAX_ATTEMPTS = 1
    now = timezone.now()
    row = _claimed(now)

    assert ROWS.fail(row, ValueError("no"), now) == DeliveryStatus.DEAD
    row.refresh_from_db()
    assert (row.status, row.last_error) == (DeliveryStatus.DEAD, "ValueError: no")
    assert row.next_attempt_at is None


def test_fail_of_a_lost_claim_writes_nothing_and_says_so_only_when_asked():
    now = timezone.now()
    row = _claimed(now)
    # The sweeper took the row back and it was claimed again.
    EventDelivery.objects.filter(pk=row.pk).update(claimed_at=now + timedelta(1))

    # As its users have always had it: the status, nothing written.
    assert ROWS.fail(row, ValueError("no"), now) == DeliveryStatus.FAILED
    with pytest.raises(ClaimLost):
        ROWS.fail(row, ValueError("no"), now, require_claim=True)
    row.refresh_from_db()
    assert (row.status, row.last_error) == (DeliveryStatus.DELIVERING, "")


def test_fail_that_may_not_give_up_retries_a_row_out_of_attempts(settings):
    settings.EVENT_MAX_ATTEMPTS = 1
    settings.EVENT_RETRY_BASE_SECONDS = 30
    now = timezone.now()
    row = _claimed(now)

    assert ROWS.fail(row, ValueError("no"), now, give_up=False) == "failed"
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED
    assert row.next_attempt_at == now + timedelta(seconds=30)


def test_the_error_kept_holds_no_nul(settings):
    now = timezone.now()
    row = _claimed(now)

    ROWS.fail(row, ValueError("bad\x00byte"), now)

    row.refresh_from_db()
    assert row.last_error == "ValueError: bad\ufffdbyte"
