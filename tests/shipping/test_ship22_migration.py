"""Migration 0016 only adds the ``past`` pickup status to the model state:
no SQL, a stored pickup kept as it was, reversible. Needs ``--migrations``."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0015_tracking_event_ties_as_followed"
AFTER = "0016_pickup_status_past"


def _statuses(name: str) -> list[str]:
    model = historical_apps("shipping", name).get_model("shipping", "Pickup")
    return [value for value, _label in model._meta.get_field("status").choices]


def test_0016_adds_past_with_no_sql_and_keeps_stored_pickups(request):
    with migrated_back(request, "shipping", BEFORE):
        loader = MigrationExecutor(connection).loader
        migration = loader.graph.nodes[("shipping", AFTER)]
        sql = loader.collect_sql([(migration, False)])
        assert [line for line in sql if not line.startswith("--")] == []
        apps = historical_apps("shipping", BEFORE)
        account = apps.get_model("integrations", "ProviderAccount").objects.create(
            kind="shipping", provider="ups", slug="ups-0016"
        )
        pickup = apps.get_model("shipping", "Pickup").objects.create(
            account=account,
            pickup_date="2026-01-05",
            ready_time="09:00",
            close_time="17:00",
            address={},
            total_weight="2",
            idempotency_key="pickup-0016",
            status="scheduled",
        )
    after = historical_apps("shipping", AFTER).get_model("shipping", "Pickup")
    assert after.objects.get(pk=pickup.pk).status == "scheduled"
    assert "past" not in _statuses(BEFORE)
    assert "past" in _statuses(AFTER)
