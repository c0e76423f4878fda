"""A stop (SIGTERM as Terminated, Ctrl-C) raised while psycopg is between
reading parts of an answer leaves the statement's answer unread: psycopg
cancels the query only when the stop lands in its wait, not inside its
reading generator. Ending the run then failed with "another command is
already in progress" (reported as a lost database connection, exit 1) and
the run stayed open and claimed, refusing the account's next sync."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inventory import services
from inventory.management.commands.sync_inventory import Terminated
from inventory.models import SandboxErpLevel, SyncRun, SyncStatus
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _erp():
    erp = ProviderAccountFactory(kind="inventory", slug="erp-busy")
    old = timezone.now() - timedelta(hours=1)
    for n in range(3):
        SandboxErpLevel.objects.create(
            account=erp, sku=f"B{n}", location_code="MAIN", on_hand=n, modified_at=old
        )
    return erp


@pytest.mark.parametrize("stop", [Terminated, KeyboardInterrupt])
def test_a_stop_leaving_the_connection_busy_still_ends_the_run(stop):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL connection left busy")
    erp = _erp()

    def stopped_mid_answer(run):
        # What psycopg leaves when the stop lands inside its reading: the
        # query sent, its answer unread.
        connection.ensure_connection()
        connection.connection.pgconn.send_query(b"SELECT pg_sleep(0.05)")
        raise stop

    with pytest.raises(stop):
        services.inventory_sync(account=erp, progress=stopped_mid_answer)

    run = SyncRun.objects.get(account=erp)
    assert run.status == SyncStatus.FAILED
    assert run.claimed_at is None
    assert [error["code"] for error in run.errors] == ["sync_interrupted"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
