"""hooks42 item 1: lifting a Retry-After hold makes every row it held due at
once, the row that got the 429 included (it waited for the same wait); a
row in flight at the lift is left to its worker (not sent twice), and a 429
settled after a lift that ended its hold leaves its row on its schedule,
not on the Retry-After staff lifted."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services import deliveries as deliveries_module
from storefront_hooks.services.clock import database_now
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import (
    first_answered_429,
    hold_settings,
    waiting_deliveries,
)

pytestmark = pytest.mark.django_db
HOLD_SECONDS = 300


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)


def _held(receiver, make_endpoint) -> tuple[WebhookEndpoint, list[WebhookDelivery]]:
    """An endpoint held by a 429's Retry-After; the 429'd row and a second
    row put back for the hold."""
    endpoint, first, second = first_answered_429(receiver, make_endpoint)
    assert services.delivery_send(delivery_id=second.pk) == "pending"
    return endpoint, [first, second]


def test_lifting_makes_the_row_that_got_the_429_due_at_once(
    receiver, make_endpoint, django_capture_on_commit_callbacks
) -> None:
    endpoint, (first, second) = _held(receiver, make_endpoint)
    first.refresh_from_db()
    assert first.next_attempt_at > timezone.now() + timedelta(seconds=200)

    with django_capture_on_commit_callbacks(execute=True):
        queued = services.endpoint_hold_lift(endpoint=endpoint, actor="staff")

    assert queued == 2
    for row in (first, second):
        row.refresh_from_db()
        assert row.status == "delivered", row.last_error


def test_a_row_in_flight_at_the_lift_is_left_to_its_worker(
    receiver, make_endpoint, django_capture_on_commit_callbacks
) -> None:
    endpoint, (first, _second) = _held(receiver, make_endpoint)
    # A worker claimed the 429'd row (a staff "send again", say): its POST
    # is on its way, so the lift must not make it due or queue it.
    claimed_at = database_now()
    WebhookDelivery.objects.filter(pk=first.pk).update(
        status="delivering", claimed_at=claimed_at
    )
    first.refresh_from_db()
    before = first.next_attempt_at
    sent = len(receiver.requests_for("POST", HOOK_PATH))

    with django_capture_on_commit_callbacks(execute=True):
        services.endpoint_hold_lift(endpoint=endpoint, actor="staff")

    first.refresh_from_db()
    assert (first.status, first.next_attempt_at) == ("delivering", before)
    # Only the second row went out.
    assert len(receiver.requests_for("POST", HOOK_PATH)) == sent + 1


def test_a_429_settled_after_the_lift_does_not_keep_its_row_waiting(
    receiver, make_endpoint, monkeypatch
) -> None:
    receiver.route(
        "POST", HOOK_PATH, respond(429, headers={"Retry-After": str(HOLD_SECONDS)})
    )
    endpoint = make_endpoint()[0]
    (row,) = waiting_deliveries(1, endpoint)
    real_hold_set = deliveries_module.hold_set

    def lifted_meanwhile(*args, **kwargs):
        # Staff lift the hold this 429 just set, before its row is settled.
        real_hold_set(*args, **kwargs)
        assert services.endpoint_hold_lift(endpoint=endpoint, actor="staff") >= 0

    monkeypatch.setattr(deliveries_module, "hold_set", lifted_meanwhile)

    assert services.delivery_send(delivery_id=row.pk) == "failed"

    row.refresh_from_db()
    endpoint.refresh_from_db()
    assert endpoint.retry_after_until is None
    # Its schedule's 1 s step, not the 300 s staff lifted.
    assert row.next_attempt_at < database_now() + timedelta(seconds=10)
