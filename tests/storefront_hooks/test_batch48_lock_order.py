"""The sweep giving up old deliveries while staff lift the endpoint's
Retry-After hold, on PostgreSQL: both change the same waiting rows in one
UPDATE each. In their plans' orders (the sweep reading the table, the lift
an index) each took one row and waited for the other, and one died of
"deadlock detected"; both lock the rows by id first now
(``integrations.rows.locked_by_id``). Interleaved by ``tests.lock_order``.
"""

from datetime import timedelta

import pytest
from django.conf import settings

from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.clock import database_now
from storefront_hooks.services.hold import held_error
from storefront_hooks.services.sweep import deliveries_sweep
from tests.lock_order import BY_INDEX, TABLE_SCAN, Side, pause_trigger, race
from tests.storefront_hooks.hold_setup import hold_settings, waiting_deliveries

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _settings(settings, monkeypatch) -> None:
    hold_settings(settings)
    monkeypatch.setattr(
        "storefront_hooks.services.queue.async_task", lambda *a, **k: None
    )


def _old_held_rows(endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    """Two rows held for the endpoint's hold, past the age limit; by id, by
    age and by next try in the same order, the first row's live version
    after the second's in the table (updated last)."""
    now = database_now()
    until = now + timedelta(seconds=300)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        retry_after_until=until, retry_after_answered_at=now - timedelta(seconds=1)
    )
    old = now - timedelta(hours=settings.STOREFRONT_WEBHOOK_MAX_AGE_HOURS + 1)
    first, second = waiting_deliveries(2, endpoint)
    for row, step in ((second, 1), (first, 0)):
        WebhookDelivery.objects.filter(pk=row.pk).update(
            status="failed",
            attempts=1,
            last_error=held_error(until),
            created_at=old + timedelta(seconds=step),
            next_attempt_at=until - timedelta(seconds=10 - step),
        )
    return [first, second]


def test_the_sweep_giving_up_and_a_hold_lift_at_once_do_not_deadlock(
    make_endpoint,
) -> None:
    endpoint = make_endpoint()[0]
    second = _old_held_rows(endpoint)[1]

    def sweep() -> None:
        deliveries_sweep()

    def lift() -> None:
        services.endpoint_hold_lift(endpoint=endpoint, actor="staff")

    with pause_trigger(WebhookDelivery._meta.db_table):
        errors = race(
            Side("sweep", second.pk, TABLE_SCAN, sweep),
            Side("lift", None, BY_INDEX, lift),
        )

    assert errors == {}
    statuses = WebhookDelivery.objects.values_list("status", flat=True)
    assert set(statuses) == {"dead"}


def test_a_hold_lift_reading_the_table_and_the_sweep_giving_up_do_not_deadlock(
    make_endpoint,
) -> None:
    """The other way round: the lift's release of the held rows reads the
    table (a large endpoint's rows) while the sweep gives them up by an
    index. The release locks them by id first too, so the sweep waits."""
    endpoint = make_endpoint()[0]
    second = _old_held_rows(endpoint)[1]

    def sweep() -> None:
        deliveries_sweep()

    def lift() -> None:
        services.endpoint_hold_lift(endpoint=endpoint, actor="staff")

    with pause_trigger(WebhookDelivery._meta.db_table):
        errors = race(
            Side("lift", second.pk, TABLE_SCAN, lift),
            Side("sweep", None, BY_INDEX, sweep),
        )

    assert errors == {}
    # Released first (due now), then given up: the age limit still holds.
    statuses = WebhookDelivery.objects.values_list("status", flat=True)
    assert set(statuses) == {"dead"}


def test_the_sweep_giving_up_and_staff_sending_again_do_not_deadlock(
    make_endpoint,
) -> None:
    """Staff send the rows again (*Send again*, a plan reading the table)
    while the sweep gives them up (by an index): whichever goes first, the
    other waits."""
    endpoint = make_endpoint()[0]
    rows = _old_held_rows(endpoint)
    ids = [row.pk for row in rows]

    def sweep() -> None:
        deliveries_sweep()

    def send_again() -> None:
        services.deliveries_resend(delivery_ids=ids)

    with pause_trigger(WebhookDelivery._meta.db_table):
        errors = race(
            Side("send_again", rows[1].pk, TABLE_SCAN, send_again),
            Side("sweep", None, BY_INDEX, sweep),
        )

    assert errors == {}
    # Sent again first: the age limit counts from now, nothing given up.
    statuses = WebhookDelivery.objects.values_list("status", flat=True)
    assert set(statuses) == {"pending"}


@pytest.mark.parametrize("action", ["enable", "discard"])
def test_staff_enabling_or_discarding_and_a_hold_lift_do_not_deadlock(
    make_endpoint, action
) -> None:
    """A disabled endpoint's waiting rows: staff enable it (or discard them,
    a plan reading the table) while another lifts its hold (by an index).
    Both take the endpoint's row first, so the lift waits there, before any
    delivery: a guard on that order (it held before this branch too)."""
    endpoint = make_endpoint()[0]
    rows = _old_held_rows(endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    endpoint.refresh_from_db()
    actions = {
        "enable": lambda: services.endpoint_enable(endpoint=endpoint),
        "discard": lambda: services.endpoint_waiting_discard(
            endpoint=endpoint, actor="staff"
        ),
    }

    def lift() -> None:
        services.endpoint_hold_lift(endpoint=endpoint, actor="staff")

    with pause_trigger(WebhookDelivery._meta.db_table):
        errors = race(
            Side(action, rows[1].pk, TABLE_SCAN, actions[action]),
            Side("lift", None, BY_INDEX, lift),
        )

    assert errors == {}
    statuses = set(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == {"dead" if action == "discard" else "failed"}
