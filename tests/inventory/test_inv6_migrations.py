"""0018 gives a purchase order's updated_at and a reservation's created_at
the database's clock as their column default: a row written without one (by
any process, whatever its clock) is dated by the database. Historical
models only (tests/migration_state.py). Needs ``--migrations``."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from tests.migration_state import historical_apps, migrated_back

# `make test` runs these in a second pass, with --migrations.
pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

SKEW = 240


@pytest.fixture
def at_0017(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "inventory", "0017"):
        if not shared_by_machines():
            pytest.skip("SQLite's clock is this machine's")
        yield


def _made_without_stamps(apps) -> tuple:
    Supplier = apps.get_model("inventory", "Supplier")
    Location = apps.get_model("inventory", "Location")
    PurchaseOrder = apps.get_model("inventory", "PurchaseOrder")
    Reservation = apps.get_model("inventory", "Reservation")
    order = PurchaseOrder.objects.create(
        public_id="po_inv6migration",
        supplier=Supplier.objects.create(code="55", name="S"),
        location=Location.objects.create(code="123", name="L"),
        currency="EUR",
    )
    hold = Reservation.objects.create(
        public_id="res_inv6migration",
        order_id="o",
        expires_at=database_now() + timedelta(minutes=5),
    )
    return order, hold


def _insert_raw() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO inventory_reservation (public_id, order_id, status, "
            "expires_at) VALUES ('res_inv6raw', 'o', 'active', now()) RETURNING id"
        )
        hold = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO inventory_purchaseorder (public_id, supplier_id, "
            "location_id, currency, status, external_reference, raw_status, "
            "last_error, created_at) SELECT 'po_inv6raw', s.id, l.id, 'EUR', "
            "'draft', '', '', '', now() FROM inventory_supplier s, "
            "inventory_location l LIMIT 1 RETURNING id"
        )
        order = cursor.fetchone()[0]
    return order, hold


def test_rows_written_without_stamps_take_the_databases_time(at_0017):
    call_command("migrate", "inventory", "0018", verbosity=0)
    apps = historical_apps("inventory", "0018")

    before = database_now()
    with whole_machine_clock(SKEW):
        order, hold = _made_without_stamps(apps)
    raw_order, raw_hold = _insert_raw()
    after = database_now()

    PurchaseOrder = apps.get_model("inventory", "PurchaseOrder")
    Reservation = apps.get_model("inventory", "Reservation")
    for pk in (order.pk, raw_order):
        assert before <= PurchaseOrder.objects.get(pk=pk).updated_at <= after
    for pk in (hold.pk, raw_hold):
        assert before <= Reservation.objects.get(pk=pk).created_at <= after


def test_backwards_the_columns_have_no_default_again(at_0017):
    call_command("migrate", "inventory", "0018", verbosity=0)
    apps = historical_apps("inventory", "0018")
    _made_without_stamps(apps)
    call_command("migrate", "inventory", "0017", verbosity=0)

    with pytest.raises(Exception, match="created_at"):
        _insert_raw()
