"""Migration 0017 adds a pickup's cancel re-send count and next time: a
stored pickup with a cancel in doubt starts at no tries, due as soon as its
wait since the cancel went out is over. Needs ``--migrations``."""

import pytest

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]
BEFORE = "0016_pickup_status_past"
AFTER = "0017_pickup_cancel_retries"


def test_0017_starts_a_stored_cancel_in_doubt_at_no_tries(request):
    with migrated_back(request, "shipping", BEFORE):
        apps = historical_apps("shipping", BEFORE)
        account = apps.get_model("integrations", "ProviderAccount").objects.create(
            kind="shipping", provider="ups", slug="ups-0017"
        )
        pickup = apps.get_model("shipping", "Pickup").objects.create(
            account=account,
            pickup_date="2026-01-05",
            ready_time="09:00",
            close_time="17:00",
            address={},
            total_weight="2",
            idempotency_key="pickup-0017",
            status="scheduled",
            confirmation_number="2929602E9CP",
            cancel_requested_at="2026-01-04T10:00:00Z",
        )
    after = historical_apps("shipping", AFTER).get_model("shipping", "Pickup")
    row = after.objects.get(pk=pickup.pk)
    assert (row.status, row.cancel_retries, row.cancel_retry_at) == (
        "scheduled",
        0,
        None,
    )
    assert row.cancel_requested_at is not None
