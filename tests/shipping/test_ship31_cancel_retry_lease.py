"""The past sweep's re-send of a pickup cancel in doubt counted its try in
the conditional UPDATE that took the row (shipping migration 0017's
columns), before anything went out: a worker that died between that take
and the send (killed, its process gone) spent one of the five tries on
nothing. The take now only leases the row (its next try's time pushed past
the claim's life, so no other sweep sends it meanwhile); the try is counted
as the cancel goes out (committed before the call), so a death before it
spends none, and one after it (the cancel may have landed) spends one."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.errors import NotProcessed, Unknown
from shipping.models import Pickup, PickupStatus
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.services import pickup_cancel_retry, pickup_cancels
from shipping.services.claims import CLAIM_LIFE
from tests.shipping.helpers import carrier, pickup_day, scheduled_pickup

pytestmark = pytest.mark.django_db


class WorkerDied(BaseException):
    """The worker's process ending mid-task: nothing after it runs."""


def _in_doubt(slug: str) -> Pickup:
    return scheduled_pickup(
        carrier(slug),
        "PU-LEASE",
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
    )


def _row(pickup: Pickup) -> Pickup:
    return Pickup.objects.get(pk=pickup.pk)


def test_a_worker_dying_before_the_send_spends_no_try(monkeypatch):
    pickup = _in_doubt("post31-lease")
    sent = []

    def dies_before_sending(self, request):
        raise WorkerDied

    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_cancel_pickup", dies_before_sending
    )
    before = database_now()
    with pytest.raises(WorkerDied):
        pickup_cancels.pickup_cancels_retry()

    row = _row(pickup)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    # Leased, not counted: the next run after the lease takes it again.
    assert before < row.cancel_retry_at <= database_now() + CLAIM_LIFE
    assert pickup_cancels.pickup_cancels_retry() == 0  # the lease stands

    def answer_lost(self, request):
        sent.append(request.confirmation_number)
        self.cancel_going_out(request)
        raise Unknown("read timeout", code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", answer_lost)
    Pickup.objects.filter(pk=pickup.pk).update(cancel_retry_at=database_now())
    assert pickup_cancels.pickup_cancels_retry() == 1

    assert sent == ["PU-LEASE"]
    row = _row(pickup)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 1)
    assert row.cancel_retry_at > database_now() + timedelta(hours=1)


def test_a_worker_dying_after_the_send_spends_the_try(monkeypatch):
    pickup = _in_doubt("post31-sent")

    def dies_after_sending(self, request):
        self.cancel_going_out(request)
        raise WorkerDied

    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_cancel_pickup", dies_after_sending
    )
    with pytest.raises(WorkerDied):
        pickup_cancels.pickup_cancels_retry()

    # The cancel may have landed: a try, with the next one's wait.
    row = _row(pickup)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 1)
    assert row.cancel_retry_at > database_now() + timedelta(hours=1)


def test_a_row_taken_by_another_sweep_meanwhile_is_not_sent(monkeypatch):
    pickup = _in_doubt("post31-twice")
    sent = []
    take = pickup_cancel_retry._retry_take

    def other_sweep_first(row, now):
        # Another sweep read the same row and took it a moment before us.
        assert take(Pickup.objects.get(pk=row.pk), now)
        return take(row, now)

    def answered(self, request):
        sent.append(request.confirmation_number)
        self.cancel_going_out(request)

    monkeypatch.setattr(pickup_cancel_retry, "_retry_take", other_sweep_first)
    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", answered)
    assert pickup_cancels.pickup_cancels_retry() == 0

    assert sent == []
    assert _row(pickup).cancel_retries == 0


def test_a_carrier_not_reached_still_spends_no_try(monkeypatch):
    pickup = _in_doubt("post31-down")

    def refused_at_connect(self, request):
        self.cancel_going_out(request)
        raise NotProcessed("connect timeout", code="connect_timeout")

    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_cancel_pickup", refused_at_connect
    )
    pickup_cancels.pickup_cancels_retry()

    row = _row(pickup)
    assert (row.status, row.cancel_retries) == (PickupStatus.SCHEDULED, 0)
    later = database_now() + timedelta(minutes=59)
    assert later < row.cancel_retry_at < later + timedelta(minutes=2)
