"""Scheduling a pickup from the shipment list: the action, the form, the
booking through the service, and the selections it refuses."""

import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from integrations.errors import Rejected
from shipping import codec
from shipping.models import Pickup, PickupStatus, ShipmentStatus
from shipping.units import WeightUnit
from tests.shipping.contract import requests
from tests.shipping.helpers import bought_shipment, carrier

pytestmark = pytest.mark.django_db

LIST = "/admin/shipping/shipment/"
KG_PARCEL = replace(requests.PARCEL, weight=Decimal("1.2"), weight_unit=WeightUnit.KG)


def _act(client, *shipments):
    return client.post(
        LIST,
        {"action": "schedule_pickup", "_selected_action": [s.pk for s in shipments]},
    )


def _when(**changes) -> dict:
    day = timezone.localdate() + timedelta(days=2)
    return {
        "pickup_date": day.isoformat(),
        "ready_time": "09:00",
        "close_time": "17:00",
        "instructions": "Ring at dock 4",
        **changes,
    }


def test_a_pickup_for_the_selected_shipments_is_booked_once(admin_client):
    account = carrier("post")
    first = bought_shipment(account, 1, parcels=(requests.PARCEL, KG_PARCEL))
    second = bought_shipment(account, 2)

    chosen = _act(admin_client, first, second)
    page = admin_client.get(chosen.url)
    html = page.content.decode()
    key = re.search(r'name="key" value="(\w+)"', html).group(1)
    booked = admin_client.post(chosen.url, {**_when(), "key": key})
    again = admin_client.post(chosen.url, {**_when(), "key": key})

    assert chosen.status_code == 302 and "schedule-pickup" in chosen.url
    assert page.status_code == 200
    assert "3, 3.468 kg" in html  # 2.5 lb twice (1.134 kg each) and 1.2 kg
    assert first.public_id in html and "1 Dock Road" in html
    pickup = Pickup.objects.get()
    assert booked.url == f"/admin/shipping/pickup/{pickup.pk}/change/"
    assert again.url == booked.url  # the same key: the same pickup
    assert pickup.status == PickupStatus.SCHEDULED
    assert (pickup.parcel_count, pickup.total_weight) == (3, Decimal("3.468"))
    assert pickup.instructions == "Ring at dock 4"
    assert set(pickup.shipments.all()) == {first, second}
    assert codec.address_from_json(pickup.address) == requests.SHIPPER


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": ShipmentStatus.VOIDED}, "Only bought labels can be collected."),
        ({"account": "other"}, "One pickup collects from one carrier account."),
        (
            {"from_address": codec.address_to_json(requests.RECIPIENT)},
            "the senders differ",
        ),
    ],
)
def test_a_selection_one_pickup_cannot_collect_is_refused(
    admin_client, changes, reason
):
    account = carrier("post")
    if changes.get("account") == "other":
        changes = {"account": carrier("other-post")}
    shipments = [
        bought_shipment(account, 1),
        bought_shipment(**{"account": account, **changes}, n=2),
    ]

    response = _act(admin_client, *shipments)
    listed = admin_client.get(LIST).content.decode()

    assert response.status_code == 302 and response.url.endswith(LIST)
    assert reason in listed
    assert not Pickup.objects.exists()


def test_hours_the_carrier_cannot_take_are_a_form_error(admin_client):
    shipment = bought_shipment(carrier("post"), 1)
    url = _act(admin_client, shipment).url

    page = admin_client.post(url, {**_when(close_time="08:00"), "key": "k1"})

    assert page.status_code == 200
    assert "errornote" in page.content.decode()
    assert not Pickup.objects.exists()


def test_a_carrier_that_cannot_be_reached_leaves_a_failed_pickup_for_staff(
    admin_client,
):
    shipment = bought_shipment(carrier("down", outage=True), 1)
    url = _act(admin_client, shipment).url

    response = admin_client.post(url, {**_when(), "key": "k2"}, follow=True)

    pickup = Pickup.objects.get()
    assert pickup.status == PickupStatus.FAILED
    assert f"Pickup {pickup.public_id}: failed" in response.content.decode()


def test_staff_without_the_right_to_buy_labels_cannot_schedule(client):
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_shipment"))
    client.force_login(clerk)
    shipment = bought_shipment(carrier("post"), 1)

    listed = client.get(LIST).content.decode()
    direct = client.get(f"{LIST}schedule-pickup/?ids={shipment.pk}")

    assert "schedule_pickup" not in listed
    assert direct.status_code == 403


def test_correcting_the_form_after_a_carrier_refusal_books_the_pickup(
    admin_client, monkeypatch
):
    from shipping.providers import sandbox

    real = sandbox.SandboxShippingAdapter.carrier_schedule_pickup
    calls = []

    def refuse_early_hours(self, request):
        calls.append(request.ready_time)
        if request.ready_time.hour < 10:
            raise Rejected(
                "the carrier collects from 10:00 only",
                code="invalid_window",
                http_status=400,
            )
        return real(self, request)

    monkeypatch.setattr(
        sandbox.SandboxShippingAdapter, "carrier_schedule_pickup", refuse_early_hours
    )
    shipment = bought_shipment(carrier("post"), 1)
    url = _act(admin_client, shipment).url
    page = admin_client.get(url).content.decode()
    key = re.search(r'name="key" value="(\w+)"', page).group(1)

    refused = admin_client.post(url, {**_when(ready_time="08:00"), "key": key})
    # Staff read the carrier's reason on the re-rendered form, fix the hours
    # and submit it again.
    assert refused.status_code == 200
    assert "10:00 only" in refused.content.decode()
    html = refused.content.decode()
    resent_key = re.search(r'name="key" value="(\w+)"', html).group(1)
    admin_client.post(url, {**_when(ready_time="11:00"), "key": resent_key})

    assert len(calls) == 2, "the corrected hours never reached the carrier"
    pickup = Pickup.objects.order_by("-pk").first()
    assert pickup.status == PickupStatus.SCHEDULED


def test_a_form_key_longer_than_the_column_allows_is_a_form_error(admin_client):
    # "admin-pickup-" and 64 would overflow the 64 of the stored key.
    shipment = bought_shipment(carrier("post"), 1)
    url = _act(admin_client, shipment).url

    response = admin_client.post(url, {**_when(), "key": "k" * 64})

    assert response.status_code == 200
    assert "Please correct the errors below" in response.content.decode()
    assert not Pickup.objects.exists()


def test_a_shipment_already_on_a_scheduled_pickup_is_not_booked_again(admin_client):
    shipment = bought_shipment(carrier("post"), 1)
    first = _act(admin_client, shipment).url
    admin_client.post(first, {**_when(), "key": "k-first"})
    again = _act(admin_client, shipment).url

    page = admin_client.post(again, {**_when(), "key": "k-second"})

    assert "already on scheduled pickup" in page.content.decode()
    assert Pickup.objects.count() == 1


def test_an_absurd_id_list_is_no_500(admin_client):
    response = admin_client.get(f"{LIST}schedule-pickup/?ids={'9' * 5000},x")

    assert response.status_code == 302  # back to the list, "select at least one"


def _unknown_pickup(admin_client, monkeypatch):
    from integrations.errors import Unknown
    from shipping.providers import sandbox

    def lost(self, request):
        raise Unknown("read timed out", code="read_timeout")

    monkeypatch.setattr(sandbox.SandboxShippingAdapter, "carrier_schedule_pickup", lost)
    shipment = bought_shipment(carrier("post"), 1)
    admin_client.post(_act(admin_client, shipment).url, {**_when(), "key": "k-lost"})
    monkeypatch.undo()
    return shipment, Pickup.objects.get()


def test_an_unknown_pickup_holds_its_shipments_until_staff_settle_it(
    admin_client, monkeypatch
):
    shipment, pickup = _unknown_pickup(admin_client, monkeypatch)
    assert pickup.status == PickupStatus.UNKNOWN
    again = _act(admin_client, shipment).url

    held = admin_client.post(again, {**_when(), "key": "k-again"})
    page = admin_client.get(f"/admin/shipping/pickup/{pickup.pk}/change/")
    admin_client.post(f"/admin/shipping/pickup/{pickup.pk}/resolve/", {})
    freed = admin_client.post(again, {**_when(), "key": "k-again"})

    assert f"already on unknown pickup {pickup.public_id}" in held.content.decode()
    assert 'id="pickup-resolve"' in page.content.decode()
    pickup.refresh_from_db()
    assert pickup.status == PickupStatus.FAILED
    assert freed.status_code == 302
    assert Pickup.objects.filter(status=PickupStatus.SCHEDULED).count() == 1


def test_staff_record_an_unknown_pickup_as_booked(admin_client, monkeypatch):
    _shipment, pickup = _unknown_pickup(admin_client, monkeypatch)
    url = f"/admin/shipping/pickup/{pickup.pk}/resolve/"

    bad = admin_client.post(url, {"confirmation_number": "x\x00"}, follow=True)
    admin_client.post(url, {"confirmation_number": "PU-4711"})

    assert "up to 64 printable characters" in bad.content.decode()
    pickup.refresh_from_db()
    assert (pickup.status, pickup.confirmation_number) == ("scheduled", "PU-4711")


def test_a_pickup_key_reused_for_another_day_is_refused():
    from datetime import time as clock

    from shipping import services
    from shipping.providers.base import PickupRequest

    account = carrier("post")
    day = timezone.localdate() + timedelta(days=2)
    request = PickupRequest(
        address=requests.SHIPPER,
        pickup_date=day,
        ready_time=clock(9),
        close_time=clock(17),
        parcel_count=1,
        total_weight=Decimal("1"),
        idempotency_key="reused",
    )
    services.pickup_schedule(account=account, request=request)

    with pytest.raises(services.ShippingError) as caught:
        services.pickup_schedule(
            account=account,
            request=replace(request, pickup_date=day + timedelta(days=1)),
        )

    assert caught.value.code == "idempotency_key_reused"


def test_the_pickup_page_shows_its_timeline_with_the_staff_notes(admin_client):
    """Internal pickup events (never sent to the shop) are on the pickup's
    own page, not only in the Events admin; an unknown one keeps its form."""
    from integrations.models import Event
    from tests.shipping.helpers import scheduled_pickup

    pickup = scheduled_pickup(carrier("post"), "PU1", status=PickupStatus.UNKNOWN)
    for name in ("pickup.cancel_not_applied", "pickup.cancel_after_settle"):
        Event.objects.create(name=name, subject=pickup.public_id, payload={})
    Event.objects.create(name="pickup.cancelled", subject="pu_other", payload={})

    page = admin_client.get(f"/admin/shipping/pickup/{pickup.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="pickup-timeline"' in html
    assert "Event pickup.cancel_not_applied" in html
    assert "Event pickup.cancel_after_settle" in html
    assert "pu_other" not in html and "Event pickup.cancelled" not in html
    assert 'id="pickup-resolve"' in html
