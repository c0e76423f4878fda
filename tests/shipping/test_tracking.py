"""Tracking: events stored once, status only forward, outbox events."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations.events import Event
from integrations.webhooks.messages import WebhookMessage
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers import sandbox_rules
from shipping.providers.base import VoidResult
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from tests.factories import ProviderAccountFactory
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db


def _bought(account, *, steps_ago: float = 0, key: str = "k") -> Shipment:
    number = sandbox_rules.tracking_number(
        created_at=timezone.now() - timedelta(seconds=600 * steps_ago + 1),
        key=key,
        exception=False,
    )
    return _shipment(
        account,
        key=key,
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=number,
        carrier_shipment_id=number,
    )


def _event(status, minutes_ago, code="X"):
    return TrackingEvent(
        status=status,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        carrier_status_code=code,
        description=str(status),
    )


def test_a_poll_stores_events_once_and_emits():
    shipment = _bought(carrier("post"), steps_ago=2)
    assert services.shipment_tracking_refresh(shipment=shipment) == 3
    assert services.shipment_tracking_refresh(shipment=shipment) == 0
    assert shipment.tracking_events.count() == 3
    assert shipment.tracking_status == "in_transit"
    assert Event.objects.filter(name="shipment.tracking_updated").count() == 1


def test_status_only_moves_forward():
    shipment = _bought(carrier("post"))
    delivered = _event(TrackingStatus.DELIVERED, 5, "DL")
    info = TrackingInfo(
        shipment.tracking_number, TrackingStatus.DELIVERED, (delivered,)
    )
    services.shipment_tracking_apply(shipment=shipment, info=info)
    assert shipment.tracking_status == "delivered" and shipment.delivered_at
    late = _event(TrackingStatus.IN_TRANSIT, 1, "AR")
    info = TrackingInfo(shipment.tracking_number, TrackingStatus.IN_TRANSIT, (late,))
    assert services.shipment_tracking_apply(shipment=shipment, info=info) == 1
    assert shipment.tracking_status == "delivered"
    assert Event.objects.filter(name="shipment.delivered").count() == 1


def test_an_older_event_never_overrides_a_newer_one():
    shipment = _bought(carrier("post"))
    newer = _event(TrackingStatus.OUT_FOR_DELIVERY, 5, "OD")
    services.shipment_tracking_apply(
        shipment=shipment,
        info=TrackingInfo(shipment.tracking_number, newer.status, (newer,)),
    )
    older = _event(TrackingStatus.IN_TRANSIT, 30, "AR")
    services.shipment_tracking_apply(
        shipment=shipment,
        info=TrackingInfo(shipment.tracking_number, older.status, (older,)),
    )
    assert shipment.tracking_status == "out_for_delivery"


def test_refresh_tracking_command_polls_due_shipments_and_summarises(capsys):
    account = carrier("post")
    _bought(account, steps_ago=4.5, key="a")
    _bought(account, steps_ago=1, key="b")
    lost = _bought(account, key="c")
    Shipment.objects.filter(pk=lost.pk).update(tracking_number="SBXN-unknown")
    call_command("refresh_tracking")
    out = capsys.readouterr().out
    assert "3 checked, 2 updated, 1 failed" in out
    assert Shipment.objects.filter(tracking_status="delivered").count() == 1
    # Just asked: nothing is due again.
    call_command("refresh_tracking")
    assert "0 checked" in capsys.readouterr().out


def _apply(shipment, *events):
    info = TrackingInfo(shipment.tracking_number, events[-1].status, events)
    return services.shipment_tracking_apply(shipment=shipment, info=info)


def test_an_unmapped_newer_scan_neither_undoes_in_transit_nor_unlocks_void():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    _apply(
        shipment,
        _event(TrackingStatus.PRE_TRANSIT, 60, "OC"),
        _event(TrackingStatus.IN_TRANSIT, 30, "PU"),
    )
    assert shipment.tracking_status == "in_transit"
    # A code the adapter's table does not know (FedEx "LO", a UPS activity
    # type missing from STATUS_TYPES, Shippo's UNKNOWN) is read as unknown.
    assert _apply(shipment, _event(TrackingStatus.UNKNOWN, 5, "LO")) == 1
    shipment = Shipment.objects.get()
    assert shipment.tracking_status == "in_transit"
    assert shipment.tracking_events.count() == 3
    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=shipment)
    assert refused.value.code == "in_transit"
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert not Event.objects.filter(name="shipment.voided").exists()


def test_shippo_unknown_track_status_leaves_the_shipment_in_transit():
    account = ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo",
        credentials={"api_token": "shippo_test_x", "webhook_token": "t" * 32},
    )
    shipment = _shipment(
        account,
        carrier="usps",
        service_code="usps_priority",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number="9205590164917312751089",
    )
    now = timezone.now()

    def entry(status, minutes_ago):
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        return {
            "status": status,
            "status_details": status,
            "status_date": at,
            "substatus": None,
            "location": None,
            "object_id": status,
        }

    history = [entry("PRE_TRANSIT", 90), entry("TRANSIT", 60), entry("UNKNOWN", 5)]
    data = {
        "tracking_number": shipment.tracking_number,
        "tracking_status": history[-1],
        "tracking_history": history,
    }
    message = WebhookMessage(
        event_type="track_updated",
        dedupe_key="x",
        payload={"event": "track_updated", "data": data},
        occurred_at=now,
    )
    info = ShippoAdapter(account).parse_tracking_update(message)
    assert services.shipment_tracking_apply(shipment=shipment, info=info) == 3
    assert Shipment.objects.get().tracking_status == "in_transit"


def _shippo_track_webhook(account, number, *statuses, history=True):
    """Shippo's ``track_updated`` for ``number`` with a history of
    (status, minutes after now) entries (the last one its tracking_status;
    ``history=False``: that status alone), through the webhook handler."""
    from integrations.models import WebhookEvent
    from shipping.webhooks import tracking_webhook_handle

    now = timezone.now()
    entries = [
        {
            "status": status,
            "status_details": status,
            "status_date": (now + timedelta(minutes=minutes)).isoformat(),
            "substatus": None,
            "location": None,
            "object_id": f"{status}-{minutes}",
        }
        for status, minutes in statuses
    ]
    data = {
        "tracking_number": number,
        "tracking_status": entries[-1],
        "tracking_history": entries if history else [],
    }
    event = WebhookEvent.objects.create(
        account=account,
        event_type="track_updated",
        dedupe_key=f"track:{number}:{len(statuses)}",
        payload={"event": "track_updated", "data": data},
        occurred_at=now,
    )
    tracking_webhook_handle(event)


def _shippo_bought(number: str) -> Shipment:
    account = ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo",
        credentials={"api_token": "shippo_test_x", "webhook_token": "t" * 32},
    )
    return _shipment(
        account,
        carrier="usps",
        service_code="usps_priority",
        status=ShipmentStatus.PURCHASED,
        tracking_number=number,
        carrier_shipment_id=number,
    )


def test_a_status_shippo_does_not_document_after_the_label_refuses_the_void():
    shipment = _shippo_bought("9205590164917312751090")

    _shippo_track_webhook(
        shipment.account, shipment.tracking_number, ("PRE_TRANSIT", 1), ("HANDED", 5)
    )

    shipment.refresh_from_db()
    assert shipment.tracking_status == "pre_transit"  # never followed
    assert shipment.tracking_events.filter(status="unknown").count() == 1
    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=shipment)
    assert refused.value.code == "in_transit"
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED


def test_shippos_documented_unknown_leaves_the_label_voidable(monkeypatch):
    from shipping.providers import shippo_refunds

    shipment = _shippo_bought("9205590164917312751091")
    # Shippo: UNKNOWN is "no tracking information from the carrier" yet.
    _shippo_track_webhook(
        shipment.account, shipment.tracking_number, ("UNKNOWN", 1), ("UNKNOWN", 5)
    )
    monkeypatch.setattr(
        shippo_refunds, "void", lambda adapter, request: VoidResult(voided=True)
    )

    shipment.refresh_from_db()
    services.shipment_void(shipment=shipment)

    assert shipment.tracking_status == "pre_transit"
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED


def test_an_unmapped_scan_after_the_label_refuses_the_void_before_the_carrier():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    later = timezone.now() + timedelta(hours=2)
    _apply(
        shipment,
        _event(TrackingStatus.PRE_TRANSIT, 0, "OC"),
        TrackingEvent(TrackingStatus.UNKNOWN, later, "LO", "left origin"),
    )

    assert Shipment.objects.get().tracking_status == "pre_transit"
    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=Shipment.objects.get())
    assert refused.value.code == "in_transit"
    assert not Event.objects.filter(name="shipment.voided").exists()


def test_a_newer_pre_transit_scan_does_not_undo_a_pickup():
    shipment = _bought(carrier("post"))
    _apply(shipment, _event(TrackingStatus.IN_TRANSIT, 30, "PU"))
    # FedEx/USPS send "shipment information sent" again when the label data
    # is edited: the parcel is still with the carrier.
    _apply(shipment, _event(TrackingStatus.PRE_TRANSIT, 5, "OC"))
    assert shipment.tracking_status == "in_transit"
    assert shipment.tracking_events.count() == 2


def test_void_refused_once_any_scan_past_pre_transit_was_stored():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    _apply(shipment, _event(TrackingStatus.IN_TRANSIT, 30, "PU"))
    # A status an earlier release moved back (to unknown) still refuses.
    Shipment.objects.filter(pk=shipment.pk).update(tracking_status="unknown")
    shipment.refresh_from_db()
    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=shipment)
    assert refused.value.code == "in_transit"


def test_void_allowed_while_only_pre_transit_or_unknown_scans_exist():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    # The unread scan is days before the label (a recycled number's history):
    # one within hours of it may be ours, dated by a clock behind ours.
    _apply(
        shipment,
        _event(TrackingStatus.UNKNOWN, 3 * 24 * 60, "NF"),
        _event(TrackingStatus.PRE_TRANSIT, 30, "OC"),
    )
    services.shipment_void(shipment=shipment)
    assert shipment.status == ShipmentStatus.VOIDED


def test_an_unread_scan_dated_just_before_the_buy_still_refuses_the_void():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    # The carrier's clock runs behind ours (or it dates scans in local time,
    # read as UTC) and no label-created scan anchors the label time: a scan
    # made after our buy reads as minutes or hours before it.
    for hours in (0.05, 9):
        skewed = shipment.created_at - timedelta(hours=hours)
        _apply(shipment, TrackingEvent(TrackingStatus.UNKNOWN, skewed, "ZZ", "x"))

        with pytest.raises(services.InvalidState) as refused:
            services.shipment_void(shipment=Shipment.objects.get())
        assert refused.value.code == "in_transit"
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED


def test_an_unread_scan_days_before_the_label_leaves_it_voidable():
    # A recycled number's old history: far earlier than any clock skew.
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    _apply(shipment, _event(TrackingStatus.UNKNOWN, 3 * 24 * 60, "ZZ"))
    services.shipment_void(shipment=shipment)
    assert shipment.status == ShipmentStatus.VOIDED


def test_a_recycled_numbers_old_label_scan_does_not_move_the_label_time_back():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    # The number's previous use, 40 days ago: its own label-created scan, then
    # an unread code (e.g. that label's cancellation), both long before ours.
    day = 24 * 60
    _apply(
        shipment,
        _event(TrackingStatus.PRE_TRANSIT, 40 * day, "OC"),
        _event(TrackingStatus.UNKNOWN, 39 * day, "ZZ"),
    )

    services.shipment_void(shipment=shipment)

    assert shipment.status == ShipmentStatus.VOIDED


def test_shippo_current_status_without_history_refuses_the_void(monkeypatch):
    from shipping.providers import shippo_refunds

    shipment = _shippo_bought("9205590164917312751092")
    # Shippo's Track object: tracking_status is the current state; the
    # history may still be empty (it is filled as the carrier reports).
    _shippo_track_webhook(
        shipment.account, shipment.tracking_number, ("TRANSIT", 30), history=False
    )
    monkeypatch.setattr(
        shippo_refunds, "void", lambda adapter, request: VoidResult(voided=True)
    )

    shipment.refresh_from_db()
    assert shipment.tracking_status == "in_transit"
    with pytest.raises(services.InvalidState):
        services.shipment_void(shipment=shipment)
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED


def test_shippo_current_status_and_its_history_entry_are_one_scan():
    shipment = _shippo_bought("9205590164917312751093")
    _shippo_track_webhook(
        shipment.account, shipment.tracking_number, ("PRE_TRANSIT", 1), ("TRANSIT", 5)
    )
    assert shipment.tracking_events.count() == 2


def test_delivered_is_final_against_a_later_return_or_exception():
    shipment = _bought(carrier("post"))
    _apply(shipment, _event(TrackingStatus.DELIVERED, 30, "DL"))
    delivered_at = shipment.delivered_at
    _apply(shipment, _event(TrackingStatus.EXCEPTION, 20, "EX"))
    _apply(shipment, _event(TrackingStatus.RETURNED, 10, "RS"))
    _apply(shipment, _event(TrackingStatus.UNKNOWN, 5, "ZZ"))
    assert shipment.tracking_status == "delivered"
    assert shipment.delivered_at == delivered_at
    assert shipment.tracking_events.count() == 4
    assert Event.objects.filter(name="shipment.delivered").count() == 1


def test_an_older_scan_is_kept_in_the_history_without_moving_the_status():
    shipment = _bought(carrier("post"))
    _apply(shipment, _event(TrackingStatus.OUT_FOR_DELIVERY, 5, "OD"))
    followed_at = shipment.tracking_event_at
    _apply(shipment, _event(TrackingStatus.IN_TRANSIT, 30, "AR"))
    _apply(shipment, _event(TrackingStatus.PRE_TRANSIT, 60, "OC"))
    assert shipment.tracking_status == "out_for_delivery"
    assert shipment.tracking_event_at == followed_at
    statuses = list(shipment.tracking_events.values_list("status", flat=True))
    assert statuses == ["pre_transit", "in_transit", "out_for_delivery"]


def test_refresh_tracking_of_a_shipment_that_is_not_bought_fails():
    with pytest.raises(CommandError) as caught:
        call_command("refresh_tracking", "shp_typo0000000000000000000")

    assert "not a bought shipment: shp_typo" in str(caught.value)


def test_refresh_tracking_that_cannot_reach_the_carrier_fails(settings, capsys):
    settings.PROVIDER_MAX_ATTEMPTS = 1
    shipment = _bought(carrier("down", outage=True), key="d")

    with pytest.raises(CommandError) as caught:
        call_command("refresh_tracking", shipment.public_id)

    assert "1 checked, 0 updated, 1 failed" in capsys.readouterr().out
    assert "could not be tracked" in str(caught.value)


def test_a_resent_label_created_in_the_same_poll_does_not_hide_the_pickup():
    shipment = _bought(carrier("post"))  # pre_transit, nothing stored yet
    history = (
        _event(TrackingStatus.PRE_TRANSIT, 60, "LC"),  # label created
        _event(TrackingStatus.IN_TRANSIT, 30, "PU"),  # picked up
        _event(TrackingStatus.PRE_TRANSIT, 10, "LC2"),  # resent on an edit
    )
    info = TrackingInfo(shipment.tracking_number, TrackingStatus.IN_TRANSIT, history)

    services.shipment_tracking_apply(shipment=shipment, info=info)

    assert shipment.tracking_status == "in_transit", shipment.tracking_status
    payload = Event.objects.get(name="shipment.tracking_updated").payload
    assert payload["tracking_status"] == "in_transit"


def _retired_and_live() -> tuple[Shipment, Shipment]:
    """A shipment on a carrier account no adapter serves any more (due
    first), and one on a live carrier."""
    retired = carrier("old-post")
    stale = _bought(retired, steps_ago=4.5, key="a")
    fresh = _bought(carrier("post"), steps_ago=4.5, key="b")
    type(retired).objects.filter(pk=retired.pk).update(provider="retired-carrier")
    return stale, fresh


def test_a_shipment_on_a_retired_carrier_does_not_stop_the_sweep(capsys):
    stale, fresh = _retired_and_live()
    with pytest.raises(CommandError, match="cannot be called") as caught:
        call_command("refresh_tracking")
    assert "\n" not in str(caught.value)
    assert "2 checked, " in capsys.readouterr().out
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.last_tracked_at is not None
    # Stamped like any failure: it waits its turn, not first every run.
    assert stale.last_tracked_at is not None


def test_the_tracking_schedule_tracks_past_a_retired_carrier():
    from shipping.tasks import refresh_tracking

    _stale, fresh = _retired_and_live()
    counts = refresh_tracking()
    assert (counts["failed"], counts["broken"]) == (1, 1)
    assert Shipment.objects.get(pk=fresh.pk).last_tracked_at is not None
