"""Pickups: booked once per key, cancelled by confirmation."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.errors import Rejected
from integrations.events import Event
from shipping import services
from shipping.models import Pickup, PickupStatus
from shipping.providers.base import PickupRequest
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.services import pickups
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db


def _request(key: str = "pk-1", **overrides) -> PickupRequest:
    values = {
        "address": requests.SHIPPER,
        "pickup_date": timezone.localdate() + timedelta(days=1),
        "ready_time": time(9),
        "close_time": time(17),
        "parcel_count": 3,
        "total_weight": Decimal("7.5"),
        "idempotency_key": key,
    }
    return PickupRequest(**{**values, **overrides})


def test_schedule_once_per_key_then_cancel():
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    assert pickup.status == PickupStatus.SCHEDULED
    assert pickup.confirmation_number.startswith("PU")
    again = services.pickup_schedule(account=account, request=_request())
    assert again.pk == pickup.pk
    services.pickup_cancel(pickup=pickup)
    assert pickup.status == PickupStatus.CANCELLED
    assert services.pickup_cancel(pickup=pickup).status == PickupStatus.CANCELLED


def test_a_cancel_loaded_before_another_cancelled_it_answers_cancelled():
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    stale = Pickup.objects.get(pk=pickup.pk)  # a second click, loaded earlier
    services.pickup_cancel(pickup=pickup)

    assert services.pickup_cancel(pickup=stale).status == PickupStatus.CANCELLED


def test_a_cancel_claim_left_by_a_dead_process_is_taken_over():
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=timezone.now())
    with pytest.raises(services.InvalidState) as busy:
        services.pickup_cancel(pickup=pickup)
    assert busy.value.code == "cancel_in_progress"
    died = timezone.now() - timedelta(minutes=11)
    Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=died)

    services.pickup_cancel(pickup=pickup)

    pickup = Pickup.objects.get()
    assert (pickup.status, pickup.cancel_started_at) == (PickupStatus.CANCELLED, None)


def test_a_refused_or_invalid_pickup():
    account = carrier("post")
    with pytest.raises(Rejected) as info:
        services.pickup_schedule(
            account=account, request=_request(close_time=time(8), key="pk-2")
        )
    assert info.value.param == "close_time"
    assert not Pickup.objects.filter(idempotency_key="pk-2").exists()
    # Not processed at the carrier: raised (the API's 503), the row kept
    # failed for staff.
    with pytest.raises(pickups.CarrierUnavailable) as down:
        services.pickup_schedule(
            account=carrier("down", outage=True), request=_request(key="pk-3")
        )
    failed = Pickup.objects.get(pk=down.value.pickup.pk)
    assert failed.status == PickupStatus.FAILED
    with pytest.raises(services.InvalidState):
        services.pickup_cancel(pickup=failed)


def _bought_shipment(account):
    from shipping import codec
    from shipping.models import Shipment, ShipmentStatus

    return Shipment.objects.create(
        account=account,
        from_address=codec.address_to_json(requests.SHIPPER),
        to_address=codec.address_to_json(requests.RECIPIENT),
        parcels=[codec.parcel_to_json(requests.PARCEL)],
        carrier="Sandbox",
        service_code="ground",
        amount=790,
        currency="USD",
        idempotency_key="held-1",
        status=ShipmentStatus.PURCHASED,
        tracking_number="SBX00000001",
        carrier_shipment_id="SBX00000001",
    )


def test_a_shipment_whose_pickup_is_being_booked_is_not_booked_again(monkeypatch):
    from shipping.providers import sandbox

    account = carrier("post")
    shipment = _bought_shipment(account)
    real = sandbox.SandboxShippingAdapter.carrier_schedule_pickup
    calls, refusals = [], []

    def book(self, request):
        calls.append(request.idempotency_key)
        # A second submit (another staff member, the API) while the carrier
        # is still answering the first: its pickup is 'requested'.
        try:
            services.pickup_schedule(
                account=account,
                request=_request("second-key"),
                shipment_ids=[shipment.public_id],
            )
        except services.InvalidState as exc:
            refusals.append(exc.code)
        return real(self, request)

    monkeypatch.setattr(sandbox.SandboxShippingAdapter, "carrier_schedule_pickup", book)

    services.pickup_schedule(
        account=account,
        request=_request("first-key"),
        shipment_ids=[shipment.public_id],
    )

    assert calls == ["first-key"]
    assert refusals == ["already_scheduled"]


def test_a_cancelled_pickup_is_announced_once():
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    stale = Pickup.objects.get(pk=pickup.pk)  # a second click, loaded earlier

    services.pickup_cancel(pickup=pickup)
    services.pickup_cancel(pickup=stale)

    event = Event.objects.get(name="pickup.cancelled")
    assert event.subject == pickup.public_id
    assert event.payload == {
        "pickup": pickup.public_id,
        "status": "cancelled",
        "confirmation_number": pickup.confirmation_number,
        "pickup_date": pickup.pickup_date.isoformat(),
        "shipments": [],
        "livemode": False,  # a sandbox carrier moves no real parcel
    }


def test_a_pickup_is_not_cancelled_without_its_announcement(monkeypatch):
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())

    def outbox_down(**kwargs):
        if kwargs["name"] == "pickup.cancelled":
            raise RuntimeError("outbox write failed")

    monkeypatch.setattr(pickups, "event_emit", outbox_down)
    with pytest.raises(RuntimeError):
        services.pickup_cancel(pickup=pickup)

    assert Pickup.objects.get().status == PickupStatus.SCHEDULED


def test_staff_settling_a_cancel_in_doubt_as_cancelled_announce_it():
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    Pickup.objects.update(
        status=PickupStatus.UNKNOWN, cancel_requested_at=timezone.now()
    )

    services.pickup_resolve(pickup=pickup)

    assert Pickup.objects.get().status == PickupStatus.CANCELLED
    event = Event.objects.get(name="pickup.cancelled")
    assert event.subject == pickup.public_id


def test_a_cancel_past_its_claim_leaves_a_cancel_that_took_it_over_as_it_ended(
    monkeypatch,
):
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    # An earlier cancel of ours lost its answer: the next one is in doubt.
    Pickup.objects.filter(pk=pickup.pk).update(cancel_requested_at=timezone.now())
    real = SandboxShippingAdapter.carrier_cancel_pickup
    slow: list[str] = []

    def past_its_claim(self, request):
        if slow:
            return real(self, request)  # the cancel that took ours over
        slow.append(request.confirmation_number)
        # Ours runs past CLAIM_LIFE; another takes the claim over and the
        # carrier cancels the pickup for it (announced).
        died = timezone.now() - timedelta(minutes=11)
        Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=died)
        services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
        self.cancel_going_out(request)
        raise Rejected("pickup already cancelled or done", code="refused")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", past_its_claim)

    # Ours is then refused (cancelled already): it answers the pickup as the
    # other cancel left it, not "unknown" for staff to settle (and announce)
    # a second time.
    assert services.pickup_cancel(pickup=pickup).status == PickupStatus.CANCELLED
    assert Pickup.objects.get().status == PickupStatus.CANCELLED
    assert Event.objects.filter(name="pickup.cancelled").count() == 1
    with pytest.raises(services.InvalidState):
        services.pickup_resolve(pickup=pickup)


def test_a_late_cancel_leaves_a_pickup_staff_booked_again_under_another_number(
    monkeypatch,
):
    # Under the same number the carrier's answer wins: see
    # test_a_cancel_confirmed_after_staff_settled_it_booked_ends_it_cancelled.
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    first_number = pickup.confirmation_number
    booked_as = "PU77"
    real = SandboxShippingAdapter.carrier_cancel_pickup
    calls: list[str] = []

    def slow_then_in_doubt(self, request):
        calls.append(request.confirmation_number)
        if len(calls) == 2:  # the cancel that took ours over: "not found"
            self.cancel_going_out(request)
            raise Rejected("no pickup with this number", code="not_found")
        if len(calls) > 2:
            return real(self, request)
        self.cancel_going_out(request)
        # Ours runs past CLAIM_LIFE; another takes the claim over, its
        # refusal leaves the pickup unknown, and staff find it still booked
        # under a new confirmation number.
        died = timezone.now() - timedelta(minutes=11)
        Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=died)
        with pytest.raises(services.ShippingError) as doubt:
            services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
        assert doubt.value.code == "cancel_in_doubt"
        services.pickup_resolve(
            pickup=Pickup.objects.get(pk=pickup.pk), confirmation_number=booked_as
        )
        return real(self, request)  # then the carrier confirms ours, late

    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_cancel_pickup", slow_then_in_doubt
    )

    with pytest.raises(services.InvalidState) as changed:
        services.pickup_cancel(pickup=pickup)

    assert changed.value.code == "pickup_changed"
    assert calls[:2] == [first_number, first_number]
    stored = Pickup.objects.get()
    assert (stored.status, stored.confirmation_number) == (
        PickupStatus.SCHEDULED,
        booked_as,
    )
    assert not Event.objects.filter(name="pickup.cancelled").exists()
    # Recorded for staff on the pickup's events, with what it cancelled.
    noted = Event.objects.get(name="pickup.cancel_not_applied")
    assert noted.subject == pickup.public_id
    assert noted.payload["cancelled_confirmation_number"] == first_number
    assert noted.payload["confirmation_number"] == booked_as
    # The pickup as staff settled it can still be cancelled.
    assert services.pickup_cancel(pickup=stored).status == PickupStatus.CANCELLED


def test_a_late_cancel_settles_a_cancel_still_in_doubt(monkeypatch):
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    real = SandboxShippingAdapter.carrier_cancel_pickup
    calls: list[str] = []

    def slow(self, request):
        calls.append(request.confirmation_number)
        self.cancel_going_out(request)
        if len(calls) == 2:
            raise Rejected("no pickup with this number", code="not_found")
        # Ours runs past its claim; the cancel that took it over leaves the
        # pickup unknown, and nobody has settled it when our success comes.
        died = timezone.now() - timedelta(minutes=11)
        Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=died)
        with pytest.raises(services.ShippingError):
            services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
        return real(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", slow)

    assert services.pickup_cancel(pickup=pickup).status == PickupStatus.CANCELLED
    assert Pickup.objects.get().status == PickupStatus.CANCELLED
    assert Event.objects.filter(name="pickup.cancelled").count() == 1


def test_a_late_cancel_success_nobody_settled_is_applied(monkeypatch):
    """Ours stalls past its claim before its cancel goes out; a second cancel
    takes the claim over as a first try. Ours lands first, so the second gets
    "not found" and, as a definite answer, would clear an in-doubt mark: not
    ours to clear. Ours is then confirmed: nobody settled anything, the
    pickup ends cancelled, announced once."""
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    real = SandboxShippingAdapter.carrier_cancel_pickup
    first: list = []

    def carrier_cancel(self, request):
        if not first:
            first.append(request)
            stale = timezone.now() - timedelta(minutes=11)
            Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=stale)
            with pytest.raises(services.ShippingError) as second:
                services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
            assert second.value.status_code == 502
            assert Pickup.objects.get().cancel_requested_at is not None  # ours
            return real(self, request)
        self.cancel_going_out(first[0])  # ours goes out and lands first
        self.cancel_going_out(request)
        raise Rejected("no pickup with this number", code="not_found")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", carrier_cancel)

    assert services.pickup_cancel(pickup=pickup).status == PickupStatus.CANCELLED
    assert Pickup.objects.get().status == PickupStatus.CANCELLED
    assert Event.objects.filter(name="pickup.cancelled").count() == 1


def test_a_cancel_confirmed_after_staff_settled_it_booked_ends_it_cancelled(
    monkeypatch,
):
    """Staff settle a cancel in doubt as still booked under the same number
    (what the carrier showed them then); ours then lands and the carrier
    confirms cancelling that very number. Its answer is later than staff's
    look: the pickup ends cancelled, announced once, the contradiction
    flagged for staff on its events."""
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    number = pickup.confirmation_number
    real = SandboxShippingAdapter.carrier_cancel_pickup
    calls: list[str] = []

    def carrier_cancel(self, request):
        calls.append(request.confirmation_number)
        self.cancel_going_out(request)
        if len(calls) == 2:  # the cancel that took ours over
            raise Rejected("no pickup with this number", code="not_found")
        died = timezone.now() - timedelta(minutes=11)
        Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=died)
        with pytest.raises(services.ShippingError) as doubt:
            services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
        assert doubt.value.code == "cancel_in_doubt"
        settled = services.pickup_resolve(
            pickup=Pickup.objects.get(pk=pickup.pk), confirmation_number=number
        )
        assert settled.status == PickupStatus.SCHEDULED
        return real(self, request)  # the carrier confirms ours, late

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", carrier_cancel)

    assert services.pickup_cancel(pickup=pickup).status == PickupStatus.CANCELLED

    stored = Pickup.objects.get()
    assert (stored.status, stored.confirmation_number) == (
        PickupStatus.CANCELLED,
        number,
    )
    assert Event.objects.filter(name="pickup.cancelled").count() == 1
    flagged = Event.objects.get(name="pickup.cancel_after_settle")
    assert flagged.subject == pickup.public_id
    assert not Event.objects.filter(name="pickup.cancel_not_applied").exists()


def test_a_late_cancel_success_on_a_cancel_in_doubt_clears_the_doubt(monkeypatch):
    """A late success applied to a pickup left unknown (cancel in doubt)
    ends it cancelled with the refusal text and the in-doubt mark cleared,
    as staff's settle clears them."""
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    real = SandboxShippingAdapter.carrier_cancel_pickup
    calls: list[str] = []

    def slow(self, request):
        calls.append(request.confirmation_number)
        self.cancel_going_out(request)
        if len(calls) == 2:
            raise Rejected("no pickup with this number", code="not_found")
        died = timezone.now() - timedelta(minutes=11)
        Pickup.objects.filter(pk=pickup.pk).update(cancel_started_at=died)
        with pytest.raises(services.ShippingError):
            services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))
        assert Pickup.objects.get().status == PickupStatus.UNKNOWN
        return real(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", slow)

    services.pickup_cancel(pickup=pickup)

    stored = Pickup.objects.get()
    assert stored.status == PickupStatus.CANCELLED
    assert (stored.failure_message, stored.cancel_requested_at) == ("", None)


CARRIER_WORDS = "Acct 0ABC12 / ref INT-9931: PICKUP LOCKED FOR ROUTE (PU-190102)"


@pytest.mark.parametrize("in_doubt", [False, True])
def test_a_cancel_the_carrier_refuses_keeps_its_words_for_staff(monkeypatch, in_doubt):
    """issue 17, 3: the caller gets our own message per code
    (carrier_rejected, cancel_in_doubt); the carrier's text is for staff
    (the error's staff_detail, and failure_message when left unknown)."""
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    if in_doubt:
        Pickup.objects.filter(pk=pickup.pk).update(cancel_requested_at=timezone.now())

    def refuse(self, request):
        self.cancel_going_out(request)
        raise Rejected(CARRIER_WORDS, code="pickup_locked")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_cancel_pickup", refuse)

    with pytest.raises(services.ShippingError) as caught:
        services.pickup_cancel(pickup=Pickup.objects.get(pk=pickup.pk))

    assert caught.value.code == ("cancel_in_doubt" if in_doubt else "carrier_rejected")
    assert caught.value.status_code == 502
    assert "PICKUP LOCKED" not in caught.value.message
    assert "PICKUP LOCKED" in caught.value.staff_detail
    if in_doubt:
        assert "PICKUP LOCKED" in Pickup.objects.get().failure_message
