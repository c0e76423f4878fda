"""0015 gives SyncRun.started_at the database's clock as its column default:
a row written without a start (by any process, whatever its clock) starts at
the database's time. Needs ``--migrations``."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from tests.factories import ProviderAccountFactory

# `make test` runs these in a second pass, with --migrations.
pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

SKEW = 240


@pytest.fixture
def at_0014(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.config.getoption("nomigrations"):
        pytest.skip("runs the migrations (pytest --migrations)")
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's clock is this machine's")
    call_command("migrate", "inventory", "0014", verbosity=0)
    try:
        yield
    finally:
        # Leave the schema as the other tests expect it.
        call_command("migrate", verbosity=0)


def _sync_run(migration: str) -> Any:
    """SyncRun as it is at ``migration``, not today's model."""
    loader = MigrationExecutor(connection).loader
    name = loader.get_migration_by_prefix("inventory", migration).name
    return loader.project_state(("inventory", name)).apps.get_model(
        "inventory", "SyncRun"
    )


def _insert_without_start(account_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO inventory_syncrun (account_id, status, "full", pages, '
            "items_seen, items_changed, items_failed, errors, owed, covered) "
            "VALUES (%s, 'succeeded', false, 0, 0, 0, 0, '[]', '[]', false) "
            "RETURNING id",
            [account_id],
        )
        return cursor.fetchone()[0]


def test_a_run_written_without_a_start_starts_at_the_databases_time(at_0014):
    account = ProviderAccountFactory(kind="inventory", slug="erp-0015")
    call_command("migrate", "inventory", "0015", verbosity=0)
    SyncRun = _sync_run("0015")

    before = database_now()
    raw = _insert_without_start(account.pk)
    with whole_machine_clock(SKEW):
        made = SyncRun.objects.create(account_id=account.pk, status="succeeded")
    after = database_now()

    for pk in (raw, made.pk):
        assert before <= SyncRun.objects.get(pk=pk).started_at <= after


def test_backwards_the_column_has_no_default_again(at_0014):
    account = ProviderAccountFactory(kind="inventory", slug="erp-0014")
    call_command("migrate", "inventory", "0015", verbosity=0)
    call_command("migrate", "inventory", "0014", verbosity=0)

    with pytest.raises(Exception, match="started_at"):
        _insert_without_start(account.pk)


def _purchase_order(migration: str) -> tuple[Any, Any, Any]:
    loader = MigrationExecutor(connection).loader
    name = loader.get_migration_by_prefix("inventory", migration).name
    apps = loader.project_state(("inventory", name)).apps
    return (
        apps.get_model("inventory", "PurchaseOrder"),
        apps.get_model("inventory", "Supplier"),
        apps.get_model("inventory", "Location"),
    )


def test_an_order_sent_unanswered_before_0016_counts_from_its_creation(at_0014):
    call_command("migrate", "inventory", "0015", verbosity=0)
    account = ProviderAccountFactory(kind="inventory", slug="erp-0016")
    PurchaseOrder, Supplier, Location = _purchase_order("0015")
    supplier = Supplier.objects.create(code="55", name="s")
    location = Location.objects.create(code="123")

    def order(**fields: Any) -> int:
        return PurchaseOrder.objects.create(
            public_id=f"po_0016_{PurchaseOrder.objects.count()}",
            supplier=supplier,
            location=location,
            currency="EUR",
            **fields,
        ).pk

    unanswered = order(account_id=account.pk, status="draft")
    answered = order(account_id=account.pk, status="sent", external_reference="9")
    never_sent = order(status="draft")

    call_command("migrate", "inventory", "0016", verbosity=0)
    PurchaseOrder, _supplier, _location = _purchase_order("0016")
    tried = dict(PurchaseOrder.objects.values_list("pk", "send_tried_at"))
    created = dict(PurchaseOrder.objects.values_list("pk", "created_at"))

    assert tried[unanswered] == created[unanswered]
    assert tried[answered] is None
    assert tried[never_sent] is None
