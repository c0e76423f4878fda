"""Buying, reconciling and voiding labels through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.events import Event
from shipping import codec, services
from shipping.models import (
    RateQuote,
    SandboxLabel,
    Shipment,
    ShipmentAttempt,
    ShipmentStatus,
)
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db


def _quote(account, service="SBX_GROUND", **values) -> RateQuote:
    defaults = {
        "fingerprint": "f" * 64,
        "account": account,
        "carrier": "sandbox",
        "service_code": service,
        "service_name": service.title(),
        "amount": 840,
        "currency": "USD",
        "request": codec.request_to_json(requests.rate_request()),
        "expires_at": timezone.now() + timedelta(minutes=10),
    }
    return RateQuote.objects.create(**{**defaults, **values})


def test_buy_a_label_from_a_quote(django_capture_on_commit_callbacks):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(
        quote_id=quote.public_id, idempotency_key="k1", order_id="o-1"
    )
    assert shipment.status == ShipmentStatus.PURCHASED
    assert shipment.tracking_number.startswith("SBXN")
    assert bytes(shipment.label_data).startswith(b"%PDF")
    assert (shipment.amount, shipment.currency) == (840, "USD")
    assert shipment.tracking_status == "pre_transit"
    event = Event.objects.get(name="shipment.label_created")
    assert event.payload["tracking_number"] == shipment.tracking_number
    again = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k1")
    assert again.pk == shipment.pk
    assert SandboxLabel.objects.count() == 1


def test_a_label_keeps_the_carrier_account_its_quote_names():
    """Copied at purchase (Shippo's quotes name one): a pickup names it even
    after the quote is let go or deleted; a quote naming none, or one too
    long to store, leaves it empty (a pickup then reads the quote)."""
    account = carrier("post")
    named = _quote(account, extra={"carrier_account": "ca_0783"})
    too_long = _quote(account, extra={"carrier_account": "c" * 65})
    bought = [
        services.shipment_buy(quote_id=quote.public_id, idempotency_key=key)
        for key, quote in [("n", named), ("t", too_long), ("e", _quote(account))]
    ]
    named.delete()

    kept = [Shipment.objects.get(pk=s.pk).carrier_account for s in bought]
    assert kept == ["ca_0783", "", ""]


def test_without_a_format_the_carrier_prints_its_preferred_one(monkeypatch):
    # UPS prints no PDF: a buyer who names no format gets what the carrier
    # prints first, never a refusal.
    from shipping.providers.base import LabelFormat
    from shipping.providers.sandbox import SandboxShippingAdapter

    monkeypatch.setattr(
        SandboxShippingAdapter, "label_formats", (LabelFormat.ZPL, LabelFormat.PDF)
    )
    shipment = services.shipment_buy(
        quote_id=_quote(carrier("post")).public_id, idempotency_key="k-zpl"
    )
    assert shipment.status == ShipmentStatus.PURCHASED
    assert shipment.label_format == "zpl"


def test_an_expired_or_unknown_quote_cannot_be_bought():
    quote = _quote(carrier("post"), expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.QuoteExpired):
        services.shipment_buy(quote_id=quote.public_id)
    with pytest.raises(services.NotFound):
        services.shipment_buy(quote_id="rq_nope")
    assert not SandboxLabel.objects.exists()


def test_a_refused_label_fails_the_shipment():
    quote = _quote(carrier("post"), service="SBX_NOPE")
    shipment = services.shipment_buy(quote_id=quote.public_id)
    assert shipment.status == ShipmentStatus.FAILED
    assert shipment.failure_code == "invalid_service"


def test_a_timeout_leaves_it_unknown_and_reconciliation_never_rebuys(
    django_capture_on_commit_callbacks, settings
):
    settings.PROVIDER_MAX_ATTEMPTS = 3
    account = carrier("slow-post", lose_label_answers=True)
    quote = _quote(account)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        shipment = services.shipment_buy(quote_id=quote.public_id)
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert callbacks, "a reconciliation is scheduled"
    assert SandboxLabel.objects.count() == 1  # made once, retries replayed it
    account.settings = {}
    account.save()
    services.shipment_reconcile(shipment=shipment)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert shipment.tracking_number == SandboxLabel.objects.get().tracking_number
    operations = list(ShipmentAttempt.objects.values_list("operation", flat=True))
    assert operations == ["create_label", "retrieve_label"]
    assert SandboxLabel.objects.count() == 1


def test_reconciliation_fails_a_shipment_the_carrier_never_saw():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id)
    shipment.status = ShipmentStatus.UNKNOWN
    shipment.idempotency_key = "never-sent"
    shipment.save()
    services.shipments_reconcile_unknown()
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.FAILED


def test_void_before_pickup_and_refused_in_transit():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id)
    services.shipment_void(shipment=shipment)
    assert shipment.status == ShipmentStatus.VOIDED
    assert Event.objects.filter(name="shipment.voided").count() == 1
    # Voided already: the void done, answered as it stands, not announced again.
    assert services.shipment_void(shipment=shipment).status == ShipmentStatus.VOIDED
    assert Event.objects.filter(name="shipment.voided").count() == 1
    moving = services.shipment_buy(quote_id=quote.public_id)
    moving.tracking_status = "in_transit"
    moving.save()
    with pytest.raises(services.InvalidState) as info:
        services.shipment_void(shipment=moving)
    assert info.value.code == "in_transit"


def test_a_stuck_buy_on_an_account_that_cannot_be_called_ends_unknown_for_staff():
    """A buy stuck 'purchasing' past its claim life ends 'unknown' (the state
    staff settle by hand), even on an account this deploy can no longer call
    (a retired carrier): not purchasing for ever, its quote held."""
    from integrations.models import ProviderAccount
    from shipping.models import Shipment

    account = carrier("old-post")
    stuck = Shipment.objects.create(
        account=account,
        quote=_quote(account),
        from_address={},
        to_address={},
        parcels=[],
        carrier="sandbox",
        service_code="SBX_GROUND",
        amount=840,
        currency="USD",
        idempotency_key="stuck-1",
        status=ShipmentStatus.PURCHASING,
        created_at=timezone.now() - timedelta(minutes=30),
    )
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired-carrier")

    services.shipments_reconcile_unknown()
    services.shipments_reconcile_unknown()

    stuck.refresh_from_db()
    assert (stuck.status, stuck.failure_code) == (
        ShipmentStatus.UNKNOWN,
        "reconcile_failed",
    )
