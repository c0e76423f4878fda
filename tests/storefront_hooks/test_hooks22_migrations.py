"""hooks22's migration 0006: a waiting row whose last error begins with the
old slot marker is flagged ``waits_for_slot`` and the marker cut off its
text; every other row is kept as it was; the hand-on's partial index is
built. Backwards puts the marker back. Historical models only. Needs
``--migrations``."""

import pytest
from django.core.management import call_command
from django.db import connection

from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

BEFORE = "0005_delivery_created_at_database_clock"
AFTER = "0006_delivery_waits_for_slot"
MARKER = "Waiting for a free slot: "
REFUSAL = "concurrency_limited: 2 calls in flight"
INDEX = "webhookdelivery_slot_waiting"

# (status, last error) as the old code left them.
ROWS = [
    ("pending", f"{MARKER}{REFUSAL}"),
    ("failed", f"{MARKER}{REFUSAL}"),
    ("failed", "HTTP 500 from the endpoint"),
    ("pending", f"Paused since x: {MARKER}"),  # the words, not at the start
    # Done rows keep their history (the age limit's, a handed-on row's).
    ("dead", f"{MARKER}{REFUSAL}"),
    ("delivered", ""),
]


def _deliveries(migration: str):
    return historical_apps("storefront_hooks", migration).get_model(
        "storefront_hooks", "WebhookDelivery"
    )


def _make(model, endpoint_id: int, rows) -> list[int]:
    return [
        model.objects.create(
            endpoint_id=endpoint_id,
            event_type="payment.captured",
            body="{}",
            status=status,
            last_error=error,
        ).pk
        for status, error in rows
    ]


def _index_valid() -> bool | None:
    table = "storefront_hooks_webhookdelivery"
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
        if INDEX not in found:
            return None
        if connection.vendor != "postgresql":
            return True
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX],
        )
        return cursor.fetchone()[0]


def test_0006_flags_the_rows_marked_by_their_last_error(request, make_endpoint):
    endpoint = make_endpoint()[0]
    with migrated_back(request, "storefront_hooks", BEFORE):
        assert _index_valid() is None
        ids = _make(_deliveries(BEFORE), endpoint.pk, ROWS)

    model = _deliveries(AFTER)
    found = {
        row.pk: (row.status, row.last_error, row.waits_for_slot)
        for row in model.objects.filter(pk__in=ids)
    }
    assert [found[pk] for pk in ids] == [
        ("pending", REFUSAL, True),
        ("failed", REFUSAL, True),
        ("failed", "HTTP 500 from the endpoint", False),
        ("pending", f"Paused since x: {MARKER}", False),
        ("dead", f"{MARKER}{REFUSAL}", False),
        ("delivered", "", False),
    ]
    assert _index_valid() is True


def test_0006_backwards_marks_the_flagged_rows_again(request, make_endpoint):
    endpoint = make_endpoint()[0]
    with migrated_back(request, "storefront_hooks", AFTER):
        model = _deliveries(AFTER)
        held = model.objects.create(
            endpoint_id=endpoint.pk,
            event_type="payment.captured",
            body="{}",
            last_error=REFUSAL,
            waits_for_slot=True,
        ).pk
        other = _make(model, endpoint.pk, [("failed", "HTTP 500")])[0]
        call_command("migrate", "storefront_hooks", BEFORE, verbosity=0)

        old = _deliveries(BEFORE).objects
        assert old.get(pk=held).last_error == f"{MARKER}{REFUSAL}"
        assert old.get(pk=other).last_error == "HTTP 500"
        assert _index_valid() is None
