"""The "Discard waiting deliveries" action: a disabled endpoint's pending and
failed deliveries, after a confirmation page, become dead (kept in the log), so
enabling it sends none of them; enabled endpoints are left alone."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from integrations.events import event_emit
from integrations.models import DeliveryStatus
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import deliveries
from storefront_hooks.services.deliveries import render_body
from tests.storefront_hooks.conftest import HOOK_PATH, machine_clock

pytestmark = pytest.mark.django_db
LIST = "admin:storefront_hooks_webhookendpoint_changelist"


def _waiting(endpoint, n: int) -> list[WebhookDelivery]:
    rows = []
    for i in range(n):
        event = event_emit(name="payment.captured", payload={"n": i})
        services.event_fan_out(event)
        rows.append(WebhookDelivery.objects.get(event=event, endpoint=endpoint))
    return rows


def _action(client, endpoints, **extra: str):
    data = {
        "action": "discard_waiting",
        "_selected_action": [e.pk for e in endpoints],
        **extra,
    }
    return client.post(reverse(LIST), data)


def test_confirm_then_discard_a_disabled_endpoints_waiting_deliveries(
    admin_client, receiver, make_endpoint
) -> None:
    receiver.route("POST", HOOK_PATH, respond(200))
    endpoint, _ = make_endpoint()
    delivered = _waiting(endpoint, 1)[0]
    services.delivery_send(delivery_id=delivered.pk)
    services.endpoint_disable(endpoint=endpoint, reason="The endpoint answered 410.")
    pending, failed = _waiting(endpoint, 2)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED)

    confirm = _action(admin_client, [endpoint])

    assert confirm.status_code == 200
    assert b"Discard waiting deliveries?" in confirm.content
    assert b"2 waiting" in confirm.content
    assert WebhookDelivery.objects.get(pk=pending.pk).status == DeliveryStatus.PENDING

    done = _action(admin_client, [endpoint], post="yes")

    assert done.status_code == 302
    for row in (pending, failed):
        row.refresh_from_db()
        assert row.status == DeliveryStatus.DEAD
        assert row.next_attempt_at is None
        assert "Discarded by admin" in row.last_error
    delivered.refresh_from_db()
    assert delivered.status == DeliveryStatus.DELIVERED
    receiver.clear_requests()
    assert services.endpoint_enable(endpoint=endpoint) == 0
    assert receiver.requests_for("POST", HOOK_PATH) == []


def test_enabled_endpoints_are_left_alone(admin_client, make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    # Not enqueued: a disabled endpoint's row, then the endpoint enabled again
    # behind the service's back, as a race would leave it.
    services.endpoint_disable(endpoint=endpoint, reason="test")
    (row,) = _waiting(endpoint, 1)
    type(endpoint).objects.filter(pk=endpoint.pk).update(enabled=True)

    confirm = _action(admin_client, [endpoint])
    assert b"left alone" in confirm.content
    assert b"Yes, discard them" not in confirm.content
    _action(admin_client, [endpoint], post="yes")

    row.refresh_from_db()
    assert row.status == DeliveryStatus.PENDING
    endpoint.refresh_from_db()
    assert services.endpoint_waiting_discard(endpoint=endpoint, actor="x") == 0


def _disable_and_discard_during_post(monkeypatch, endpoint) -> None:
    """Staff disable the endpoint and discard its waiting deliveries while a
    worker's POST of one of them is on its way (from the web process, on a
    machine whose clock is this one's)."""
    post = deliveries.delivery_post

    def post_while_staff_discard(endpoint_, delivery, *, timestamp):
        with machine_clock(0):
            services.endpoint_disable(endpoint=endpoint, reason="Disabled by ada.")
            services.endpoint_waiting_discard(endpoint=endpoint, actor="ada")
        return post(endpoint_, delivery, timestamp=timestamp)

    monkeypatch.setattr(deliveries, "delivery_post", post_while_staff_discard)


def test_a_delivery_failing_in_flight_during_a_discard_is_discarded_too(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(200))
    (row,) = _waiting(endpoint, 1)
    _disable_and_discard_during_post(monkeypatch, endpoint)

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.DEAD

    row.refresh_from_db()
    assert row.status == DeliveryStatus.DEAD and row.next_attempt_at is None
    assert row.last_error.startswith("Discarded by ada while the endpoint was")
    assert "HTTP 500" in row.last_error
    # Enabling sends none of what was discarded.
    assert services.endpoint_enable(endpoint=endpoint) == 0


def test_a_delivery_in_flight_during_a_discard_is_discarded_whatever_the_clocks(
    two_machines, receiver, make_endpoint, monkeypatch
) -> None:
    """The worker's machine is 5 s ahead of the web process's: its claim,
    made before staff's discard, must still count as made before it."""
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    (row,) = _waiting(endpoint, 1)
    _disable_and_discard_during_post(monkeypatch, endpoint)

    with machine_clock(5):
        assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.DEAD

    assert services.endpoint_enable(endpoint=endpoint) == 0


def test_a_delivery_sent_after_a_discard_is_not_discarded_whatever_the_clocks(
    two_machines, receiver, make_endpoint
) -> None:
    """The worker's machine is 5 s behind: its claim, made after staff
    discarded, enabled and sent the row again, is not one the discard saw."""
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    (row,) = _waiting(endpoint, 1)
    services.endpoint_disable(endpoint=endpoint, reason="Disabled by ada.")
    services.endpoint_waiting_discard(endpoint=endpoint, actor="ada")
    services.endpoint_enable(endpoint=endpoint)
    services.deliveries_resend(delivery_ids=[row.pk])

    with machine_clock(-5):
        assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.FAILED


def test_a_delivery_in_flight_during_a_discard_then_lost_is_discarded(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _ = make_endpoint()
    (row,) = _waiting(endpoint, 1)
    start = timezone.now()
    assert deliveries.delivery_claim(row.pk, start) is not None
    services.endpoint_disable(endpoint=endpoint, reason="Disabled by ada.")
    services.endpoint_waiting_discard(endpoint=endpoint, actor="ada")

    services.deliveries_sweep(now=start + timedelta(seconds=121))

    row.refresh_from_db()
    assert row.status == DeliveryStatus.DEAD
    assert services.endpoint_enable(endpoint=endpoint) == 0


def test_a_delivery_succeeding_in_flight_during_a_discard_is_delivered(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    (row,) = _waiting(endpoint, 1)
    _disable_and_discard_during_post(monkeypatch, endpoint)

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.DELIVERED


def test_a_delivery_sent_again_after_a_discard_is_not_discarded(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500))
    (row,) = _waiting(endpoint, 1)
    services.endpoint_disable(endpoint=endpoint, reason="Disabled by ada.")
    services.endpoint_waiting_discard(endpoint=endpoint, actor="ada")
    services.endpoint_enable(endpoint=endpoint)
    services.deliveries_resend(delivery_ids=[row.pk])

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.FAILED


@pytest.mark.django_db(transaction=True)  # as a worker runs: retried once
def test_a_2xx_whose_settle_failed_during_a_discard_is_not_ended_dead(
    receiver, make_endpoint, monkeypatch
) -> None:
    """The receiver answered 200 to a POST in flight at the discard, but the
    settle was refused twice (our database): the row was delivered, so it is
    failed on our side (sent again once enabled), not ended dead as if it
    had never been sent."""
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    # Made directly: an emitted event would be fanned out at its commit.
    body = render_body("payment.captured", timezone.now(), {"order_id": "o1"})
    row = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )
    _disable_and_discard_during_post(monkeypatch, endpoint)

    def settle(delivery, attempt, now):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(deliveries, "_settle", settle)

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.FAILED
    row.refresh_from_db()
    assert (row.status, row.last_status_code) == (DeliveryStatus.FAILED, 200)
    assert row.last_error.startswith(deliveries.OUR_SIDE_ERROR)
