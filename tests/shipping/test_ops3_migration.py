"""shipping 0013: a shipment's and a pickup's creation time become the
database's default (the clock the sweeps measure them by); rows written
before keep theirs. Historical models only. Needs ``--migrations``."""

from collections.abc import Iterator
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from tests.shipping.helpers import carrier

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

BEFORE = ("shipping", "0012_shipment_uncallable_reported_at")
AFTER = ("shipping", "0013_shipment_pickup_created_at_database_clock")
SKEW = timedelta(minutes=15).total_seconds()


@pytest.fixture
def at_0012(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.config.getoption("nomigrations"):
        pytest.skip("runs the migrations (pytest --migrations)")
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    call_command("migrate", "shipping", BEFORE[1], verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", verbosity=0)


def _rows(apps, account_id: int, key: str) -> tuple[object, object]:
    shipment = apps.get_model("shipping", "Shipment").objects.create(
        account_id=account_id,
        from_address={},
        to_address={},
        parcels=[],
        carrier="sandbox",
        service_code="SBX_GROUND",
        amount=840,
        currency="USD",
        idempotency_key=key,
    )
    pickup = apps.get_model("shipping", "Pickup").objects.create(
        account_id=account_id,
        pickup_date=date(2026, 12, 7),
        ready_time=time(9),
        close_time=time(17),
        address={},
        parcel_count=1,
        total_weight=Decimal("2"),
        idempotency_key=key,
    )
    return shipment, pickup


def test_creation_times_become_the_databases_and_old_rows_keep_theirs(at_0012):
    account = carrier("post")
    old_apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    with whole_machine_clock(-SKEW):
        old_rows = _rows(old_apps, account.pk, "old")
    kept = [row.created_at for row in old_rows]

    call_command("migrate", "shipping", AFTER[1], verbosity=0)
    new_apps = MigrationExecutor(connection).loader.project_state(AFTER).apps
    before = database_now()
    with whole_machine_clock(-SKEW):
        new_rows = _rows(new_apps, account.pk, "new")
    after = database_now()

    for row, created in zip(old_rows, kept, strict=True):
        assert type(row).objects.get(pk=row.pk).created_at == created
        assert created < before - timedelta(minutes=10)
    for row in new_rows:
        assert before <= type(row).objects.get(pk=row.pk).created_at <= after
