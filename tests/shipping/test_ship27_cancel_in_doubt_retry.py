"""A pickup cancel in doubt (our request went out, its answer was lost) was
left for a caller's retry or staff: the hourly past sweep skips such a
pickup, so with nobody retrying, one whose day passed stayed ``scheduled``
for good and the storefront heard nothing. The sweep's job now re-sends the
cancel (same cancellation, with backoff and a bound on tries): the carrier's
success or "already cancelled" ends it ``cancelled`` (``pickup.cancelled``);
past the bound it is left ``unknown`` for staff, once, with an ERROR."""

import logging
from datetime import timedelta

import pytest
import responses

from integrations.clock import database_now
from integrations.errors import Rejected, Unknown
from integrations.models import Event
from shipping import services, tasks
from shipping.models import Pickup, PickupStatus
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.services.pickup_cancels import CANCEL_RETRIES
from storefront_hooks.catalog import EVENT_TYPES
from tests.shipping.helpers import carrier, pickup_day, scheduled_pickup
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import TOKEN_URL, ups_account

pytestmark = pytest.mark.django_db

CANCEL_URL = "https://wwwcie.ups.com/api/shipments/v2409/pickup/02"


def _sent(pickup: Pickup) -> list[tuple[str, str]]:
    return [
        (name, payload["status"])
        for name, payload in Event.objects.filter(subject=pickup.public_id)
        .order_by("pk")
        .values_list("name", "payload")
        if name in EVENT_TYPES
    ]


def _in_doubt(account, confirmation: str, **values) -> Pickup:
    return scheduled_pickup(
        account,
        confirmation,
        pickup_date=pickup_day(-3),
        cancel_requested_at=database_now() - timedelta(days=3),
        **values,
    )


def _ups():
    return ups_account("ups-ship27", breaker_consecutive_failures=50)


def test_the_sweep_resends_a_cancel_in_doubt_and_ends_it_cancelled():
    pickup = _in_doubt(_ups(), "2929602E9CP")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        cancel = mocked.delete(
            CANCEL_URL, json=load("ups", "pickup_cancel_response.json")
        )
        tasks.mark_past_pickups()

    assert cancel.call_count == 1
    assert cancel.calls[0].request.headers["Prn"] == "2929602E9CP"
    row = Pickup.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_requested_at) == (PickupStatus.CANCELLED, None)
    assert _sent(pickup) == [("pickup.cancelled", "cancelled")]
    with responses.RequestsMock():  # nothing more is sent
        tasks.mark_past_pickups()
    assert _sent(pickup) == [("pickup.cancelled", "cancelled")]


def test_a_lost_answer_again_waits_its_backoff_then_is_sent_again():
    pickup = _in_doubt(_ups(), "2929602E9CP")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        lost = mocked.delete(CANCEL_URL, status=500, json={})
        tasks.mark_past_pickups()
        tries = lost.call_count
        assert tries >= 1
        tasks.mark_past_pickups()  # within its backoff: not sent
        assert lost.call_count == tries

    row = Pickup.objects.get(pk=pickup.pk)
    assert row.status == PickupStatus.SCHEDULED
    assert row.cancel_requested_at is not None
    assert row.cancel_retries == 1
    assert row.cancel_retry_at > database_now()
    assert _sent(pickup) == []

    Pickup.objects.filter(pk=pickup.pk).update(
        cancel_retry_at=database_now() - timedelta(minutes=1)
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(CANCEL_URL, json=load("ups", "pickup_cancel_response.json"))
        tasks.mark_past_pickups()

    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.CANCELLED
    assert _sent(pickup) == [("pickup.cancelled", "cancelled")]


def test_the_backoff_doubles_from_try_to_try(monkeypatch):
    pickup = _in_doubt(carrier("post"), "PU-BACKOFF")

    def lost(self, request):
        self.cancel_going_out(request)
        raise Unknown("read timeout", code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", lost)
    gaps = []
    for _ in range(3):
        before = database_now()
        tasks.mark_past_pickups()
        row = Pickup.objects.get(pk=pickup.pk)
        gaps.append(row.cancel_retry_at - before)
        Pickup.objects.filter(pk=pickup.pk).update(cancel_retry_at=before)

    assert gaps[1] > gaps[0] * 1.5 and gaps[2] > gaps[1] * 1.5


def test_a_fresh_cancel_in_doubt_is_left_to_its_caller_first(monkeypatch):
    pickup = _in_doubt(carrier("post"), "PU-FRESH")
    Pickup.objects.filter(pk=pickup.pk).update(cancel_requested_at=database_now())
    sent = []
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_cancel_pickup",
        lambda self, request: sent.append(request),
    )

    tasks.mark_past_pickups()

    assert sent == []
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.SCHEDULED


def test_every_resend_carries_the_cancellations_one_key(monkeypatch):
    pickup = _in_doubt(carrier("post"), "PU-KEY")
    keys = []

    def lost(self, request):
        keys.append((request.idempotency_key, request.confirmation_number))
        self.cancel_going_out(request)
        raise Unknown("read timeout", code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", lost)
    for _ in range(2):
        tasks.mark_past_pickups()
        Pickup.objects.filter(pk=pickup.pk).update(cancel_retry_at=database_now())

    assert keys == [(f"{pickup.public_id}-cancel", "PU-KEY")] * 2


def test_already_cancelled_on_a_resend_ends_it_cancelled(monkeypatch):
    pickup = _in_doubt(carrier("post"), "PU-GONE")

    def already(self, request):
        self.cancel_going_out(request)
        raise Rejected("Pickup already cancelled", code="already_cancelled")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", already)
    tasks.mark_past_pickups()

    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.CANCELLED
    assert _sent(pickup) == [("pickup.cancelled", "cancelled")]


def test_not_found_on_a_resend_is_left_unknown_for_staff(monkeypatch):
    # "Not found" after our cancel may be ours landed or the pickup done.
    pickup = _in_doubt(carrier("post"), "XX-DONE")  # the sandbox: not found
    tasks.mark_past_pickups()

    row = Pickup.objects.get(pk=pickup.pk)
    assert row.status == PickupStatus.UNKNOWN
    assert "no pickup" in row.failure_message
    assert _sent(pickup) == []


def test_after_the_last_try_it_is_left_unknown_for_staff_once(monkeypatch, caplog):
    pickup = _in_doubt(carrier("post"), "PU-BOUND", cancel_retries=CANCEL_RETRIES - 1)
    calls = []

    def lost(self, request):
        calls.append(request)
        self.cancel_going_out(request)
        raise Unknown("read timeout", code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", lost)
    with caplog.at_level(logging.ERROR, logger="shipping"):
        tasks.mark_past_pickups()
        Pickup.objects.filter(pk=pickup.pk).update(cancel_retry_at=database_now())
        tasks.mark_past_pickups()

    assert len(calls) == 1
    row = Pickup.objects.get(pk=pickup.pk)
    assert row.status == PickupStatus.UNKNOWN
    assert row.cancel_requested_at is not None
    assert str(CANCEL_RETRIES) in row.failure_message
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.pickup_id for r in errors] == [pickup.public_id]
    assert _sent(pickup) == []

    # Staff settle it with the carrier: cancelled, announced once.
    services.pickup_resolve(pickup=row)
    assert _sent(pickup) == [("pickup.cancelled", "cancelled")]


def test_one_pickup_that_breaks_does_not_stop_the_others(monkeypatch):
    first = _in_doubt(carrier("post"), "PU-BROKEN")
    second = _in_doubt(carrier("post2"), "PU-FINE")

    def cancel(self, request):
        if request.confirmation_number == "PU-BROKEN":
            raise RuntimeError("a bug")
        self.cancel_going_out(request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", cancel)
    tasks.mark_past_pickups()

    assert Pickup.objects.get(pk=first.pk).status == PickupStatus.SCHEDULED
    assert Pickup.objects.get(pk=first.pk).cancel_retries == 1
    assert Pickup.objects.get(pk=second.pk).status == PickupStatus.CANCELLED


def test_settled_still_booked_after_the_bound_the_sweep_marks_it_past(monkeypatch):
    pickup = _in_doubt(carrier("post"), "PU-KEPT", cancel_retries=CANCEL_RETRIES)
    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_cancel_pickup", lambda self, request: None
    )
    tasks.mark_past_pickups()  # past the bound: for staff, nothing sent
    row = Pickup.objects.get(pk=pickup.pk)
    assert row.status == PickupStatus.UNKNOWN

    services.pickup_resolve(pickup=row, confirmation_number="PU-KEPT")
    tasks.mark_past_pickups()

    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.PAST
    assert _sent(pickup) == [("pickup.past", "past")]
