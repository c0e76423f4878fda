"""The label sweep and an unknown label whose carrier account this deploy
cannot call (a retired carrier, a bad adapter path, credentials no key
opens): staff are told once per shipment (an ERROR), as for a label unknown
past a day, not on every sweep; later sweeps say it as a warning. A real
fault (a bug) is still an ERROR every time (test_label_faults)."""

import logging

import pytest

from integrations.models import ProviderAccount
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db


def _unknown(account, key: str) -> Shipment:
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="sandbox",
        service_code="SBX_GROUND",
        amount=840,
        currency="USD",
        idempotency_key=key,
        status=ShipmentStatus.UNKNOWN,
    )


def _errors(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("shipping")
    ]


def test_an_unknown_label_on_an_uncallable_account_is_an_error_once(caplog):
    account = carrier("old-post")
    first, second = _unknown(account, "u-1"), _unknown(account, "u-2")
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired-carrier")

    with caplog.at_level(logging.INFO, logger="shipping"):
        for _ in range(3):
            services.shipments_reconcile_unknown()

    errors = _errors(caplog)
    assert sorted(getattr(r, "shipment_id", None) for r in errors) == sorted(
        [first.public_id, second.public_id]
    )
    assert all("cannot be called" in r.getMessage() for r in errors)
    later = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert {r.shipment_id for r in later if "cannot be called" in r.getMessage()} == {
        first.public_id,
        second.public_id,
    }
    first.refresh_from_db()
    assert first.status == ShipmentStatus.UNKNOWN
    assert first.reconciled_at is not None


def test_the_error_is_said_again_for_a_shipment_not_yet_told(caplog):
    account = carrier("old-post")
    _unknown(account, "u-1")
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired-carrier")
    services.shipments_reconcile_unknown()
    later = _unknown(account, "u-2")
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="shipping"):
        services.shipments_reconcile_unknown()

    assert [getattr(r, "shipment_id", None) for r in _errors(caplog)] == [
        later.public_id
    ]
