"""r-hooks41 (review of hooks41): the Retry-After hold is ended only by an
answer newer than every 429 that asked for it, and a lift or a success that
ends it while a worker puts a row back for it leaves that row due, not held
until the old end; only staff who may change endpoints lift it."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Permission, User
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint
from storefront_hooks.services import deliveries
from storefront_hooks.services.hold import hold_end, hold_set
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import (
    first_answered_429,
    hold_settings,
    waiting_deliveries,
)

pytestmark = pytest.mark.django_db
LIST = "admin:storefront_hooks_webhookendpoint_changelist"


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)


def test_a_success_older_than_the_newest_429_does_not_end_the_hold(
    make_endpoint,
) -> None:
    """A 429 (long wait) at t0, a success answered at t0+10 s, another 429 at
    t0+20 s asking for a shorter wait (settled before the success): the
    receiver's newest word is "wait", so the success ends nothing."""
    endpoint = make_endpoint()[0]
    now = timezone.now()
    hold_set(endpoint.pk, now + timedelta(seconds=600), now)
    hold_set(endpoint.pk, now + timedelta(seconds=60), now + timedelta(seconds=20))

    assert not hold_end(endpoint.pk, now + timedelta(seconds=10))
    held = WebhookEndpoint.objects.get().retry_after_until
    assert held == now + timedelta(seconds=600)
    # A success answered after the newest 429 still ends it.
    assert hold_end(endpoint.pk, now + timedelta(seconds=30))


def test_a_row_put_back_while_staff_lift_the_hold_is_due_at_once(
    receiver, make_endpoint
) -> None:
    """The row was claimed with the endpoint still held; staff lift the hold
    before the worker puts it back: it must not wait until the old end."""
    endpoint, _first, second = first_answered_429(receiver, make_endpoint)
    claim = deliveries.delivery_claim

    def claim_then_lift(*args, **kwargs):
        claimed = claim(*args, **kwargs)
        services.endpoint_hold_lift(endpoint=endpoint, actor="staff")
        return claimed

    with mock.patch.object(deliveries, "delivery_claim", claim_then_lift):
        assert services.delivery_send(delivery_id=second.pk) == "pending"

    second.refresh_from_db()
    assert second.next_attempt_at <= timezone.now() + timedelta(seconds=1)
    assert services.delivery_send(delivery_id=second.pk) == "delivered"


def test_staff_without_change_permission_cannot_lift_the_hold(
    client, receiver, make_endpoint
) -> None:
    receiver.route("POST", HOOK_PATH, respond(429, headers={"Retry-After": "300"}))
    endpoint = make_endpoint()[0]
    row = waiting_deliveries(1, endpoint)[0]
    assert services.delivery_send(delivery_id=row.pk) == "failed"
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    client.force_login(viewer)
    client.post(
        reverse(LIST),
        {"action": "lift_retry_after_hold", "_selected_action": [endpoint.pk]},
    )
    assert WebhookEndpoint.objects.get().retry_after_until is not None


def test_a_row_our_breaker_held_back_never_sets_the_receivers_hold(
    settings, receiver, make_endpoint
) -> None:
    """Our own breaker's wait is not the receiver's Retry-After: a put-back
    the database refuses (failed on our side) must not hold the endpoint as
    if the receiver had asked."""
    settings.BREAKER_CONSECUTIVE_FAILURES = 1
    settings.BREAKER_OPEN_SECONDS = 300.0
    receiver.route("POST", HOOK_PATH, respond(500))
    endpoint = make_endpoint()[0]
    first, second = waiting_deliveries(2, endpoint)
    assert services.delivery_send(delivery_id=first.pk) == "failed"  # opens it
    refused = mock.patch.object(
        deliveries, "_put_back", side_effect=OperationalError("connection lost")
    )
    with refused:
        services.delivery_send(delivery_id=second.pk)

    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1  # held back
    assert WebhookEndpoint.objects.get().retry_after_until is None


def test_a_row_put_back_while_a_success_ends_the_hold_is_due_at_once(
    receiver, make_endpoint
) -> None:
    """As with a lift: a success answered after the 429 ends the hold
    between this row's claim and its put-back."""
    endpoint, _first, second = first_answered_429(receiver, make_endpoint)
    claim = deliveries.delivery_claim

    def claim_then_success(*args, **kwargs):
        claimed = claim(*args, **kwargs)
        assert hold_end(endpoint.pk, timezone.now() + timedelta(seconds=5))
        return claimed

    with mock.patch.object(deliveries, "delivery_claim", claim_then_success):
        assert services.delivery_send(delivery_id=second.pk) == "pending"

    second.refresh_from_db()
    assert second.next_attempt_at <= timezone.now() + timedelta(seconds=1)
