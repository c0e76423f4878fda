"""Review of ship20's migration 0014 and this review's 0015: each changes
only the model state (the default ordering of tracking events), sends no
SQL, and goes back (to the ordering before) and forward again. Needs
``--migrations``."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.migration_state import (
    historical_apps,
    migrated_back,
    skip_without_migrations,
)

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
STEPS = [
    (
        "0013_shipment_pickup_created_at_database_clock",
        "0014_tracking_event_listed_as_followed",
    ),
    (
        "0014_tracking_event_listed_as_followed",
        "0015_tracking_event_ties_as_followed",
    ),
]


def _ordering(name: str) -> list:
    model = historical_apps("shipping", name).get_model("shipping", "TrackingEvent")
    return list(model._meta.ordering)


@pytest.mark.parametrize(("before", "after"), STEPS)
def test_the_ordering_migration_is_state_only_and_reversible(request, before, after):
    with migrated_back(request, "shipping", before):
        loader = MigrationExecutor(connection).loader
        assert ("shipping", after) not in loader.applied_migrations
        migration = loader.graph.nodes[("shipping", after)]
        sql = loader.collect_sql([(migration, False)])
        assert [line for line in sql if not line.startswith("--")] == []
    applied = MigrationExecutor(connection).loader.applied_migrations
    assert ("shipping", after) in applied
    assert _ordering(before) != _ordering(after)


def test_0015_lists_same_second_scans_as_followed(request):
    skip_without_migrations(request)
    assert _ordering("0013_shipment_pickup_created_at_database_clock") == [
        "occurred_at",
        "pk",
    ]
    assert _ordering("0015_tracking_event_ties_as_followed")[1:] == [
        "occurred_at",
        "created_at",
        "-pk",
    ]
