"""Review of ship20's migration 0014: it changes only the model state (the
default ordering of tracking events), sends no SQL, goes back to 0013 (and
its ordering) and forward again. Needs ``--migrations``."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
LISTED = ("shipping", "0014_tracking_event_listed_as_followed")
BEFORE = ("shipping", "0013_shipment_pickup_created_at_database_clock")


def _event_model(name: str):
    return historical_apps("shipping", name).get_model("shipping", "TrackingEvent")


def test_0014_is_state_only_and_reversible(request):
    with migrated_back(request, "shipping", BEFORE[1]):
        loader = MigrationExecutor(connection).loader
        assert LISTED not in loader.applied_migrations
        migration = loader.graph.nodes[LISTED]
        sql = loader.collect_sql([(migration, False)])
        assert [line for line in sql if not line.startswith("--")] == []
    assert LISTED in MigrationExecutor(connection).loader.applied_migrations
    assert _event_model(BEFORE[1])._meta.ordering == ["occurred_at", "pk"]
    after = _event_model(LISTED[1])
    assert "LEAST" in str(after.objects.order_by(*after._meta.ordering).query)
