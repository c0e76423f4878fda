"""shipping migrations on a live table. 0010: shipments copy their quote's
carrier account. 0011: labels bought twice from one quote before the
one-live-label constraint keep their rows (and carrier account), all but
the first let go of the quote, and the constraint then holds. Needs ``--migrations``."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from shipping import codec
from shipping.models import RateQuote, Shipment
from tests.migration_state import historical_apps, migrated_back
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

# `make test` runs these in a second pass, with --migrations.
pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def at_0008(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "shipping", "0008"):
        yield


def test_second_labels_of_one_quote_let_go_of_it_and_the_constraint_holds(at_0008):
    old = historical_apps("shipping", "0008_pickup_settled_at")
    old_shipment = old.get_model("shipping", "Shipment")
    account = carrier("post")
    quote = RateQuote.objects.create(
        fingerprint="f" * 64,
        account=account,
        carrier="sandbox",
        service_code="SBX_GROUND",
        amount=840,
        currency="USD",
        request=codec.request_to_json(requests.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
        extra={"carrier_account": "ca_shippo_1"},
    )
    request = quote.request
    rows = [
        old_shipment.objects.create(
            public_id=f"shp_m{n}",
            from_address=request["from_address"],
            to_address=request["to_address"],
            parcels=request["parcels"],
            account_id=account.pk,
            carrier="sandbox",
            service_code="SBX_GROUND",
            amount=840,
            currency="USD",
            quote_id=quote.pk,
            idempotency_key=f"key-{n}",
            status=status,
        )
        for n, status in enumerate(["purchased", "unknown", "failed"])
    ]

    call_command("migrate", "shipping", "0011", verbosity=0)

    quotes = dict(Shipment.objects.values_list("public_id", "quote_id"))
    assert quotes == {"shp_m0": quote.pk, "shp_m1": None, "shp_m2": quote.pk}
    # The label that let go of its quote kept what a Shippo pickup needs.
    kept = dict(Shipment.objects.values_list("public_id", "carrier_account"))
    assert kept["shp_m1"] == "ca_shippo_1"
    first = Shipment.objects.values_list("status", flat=True).get(pk=rows[0].pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.filter(pk=rows[2].pk).update(status="unknown")
    assert first == "purchased"


@pytest.fixture
def at_0009(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "shipping", "0009"):
        yield


def test_shipments_copy_the_carrier_account_their_quote_names(at_0009):
    old = historical_apps("shipping", "0009_shipment_live_label_per_quote")
    old_quote = old.get_model("shipping", "RateQuote")
    old_shipment = old.get_model("shipping", "Shipment")
    account = carrier("post")
    request = codec.request_to_json(requests.rate_request())
    extras = {
        "named": {"carrier_account": "ca_0783"},
        "none": {},
        "empty": {"carrier_account": None},
        "too_long": {"carrier_account": "c" * 65},
    }
    for name, extra in [*extras.items(), ("no_quote", None)]:
        quote = None
        if extra is not None:
            quote = old_quote.objects.create(
                fingerprint="f" * 64,
                account_id=account.pk,
                carrier="shippo",
                service_code="usps_priority",
                service_name="USPS Priority",
                amount=790,
                currency="USD",
                extra=extra,
                request=request,
                expires_at=timezone.now() + timedelta(minutes=10),
            )
        old_shipment.objects.create(
            public_id=f"shp_{name}",
            from_address=request["from_address"],
            to_address=request["to_address"],
            parcels=request["parcels"],
            account_id=account.pk,
            carrier="USPS",
            service_code="usps_priority",
            amount=790,
            currency="USD",
            quote=quote,
            idempotency_key=f"key-{name}",
            status="purchased",
        )

    call_command("migrate", "shipping", "0010", verbosity=0)

    kept = dict(Shipment.objects.values_list("public_id", "carrier_account"))
    assert kept == {
        "shp_named": "ca_0783",
        "shp_none": "",
        "shp_empty": "",
        "shp_too_long": "",
        "shp_no_quote": "",
    }
