"""hooks41 item 1: staff see why an endpoint's deliveries are held (a
receiver's Retry-After: until when, why) and can lift the hold (audited:
the admin's history and the log name who); the rows it held are sent then.
A hold that passed reads as no hold, in the admin and the API."""

import logging
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse
from django.utils import timezone

from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.storefront_hooks.hold_setup import first_answered_429, hold_settings

pytestmark = pytest.mark.django_db
LIST = "admin:storefront_hooks_webhookendpoint_changelist"
API = "/api/v1/webhook-endpoints/"


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)


def _held(receiver, make_endpoint) -> tuple[WebhookEndpoint, list[WebhookDelivery]]:
    """An endpoint held by a 429's Retry-After (300 s), a second row put back
    for it."""
    endpoint, first, second = first_answered_429(receiver, make_endpoint)
    assert services.delivery_send(delivery_id=second.pk) == "pending"
    endpoint.refresh_from_db()
    return endpoint, [first, second]


def _change_page(admin_client, endpoint: WebhookEndpoint) -> str:
    url = reverse("admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk])
    return admin_client.get(url).content.decode()


def test_the_admin_shows_until_when_and_why_deliveries_are_held(
    admin_client, receiver, make_endpoint
) -> None:
    endpoint, _ = _held(receiver, make_endpoint)
    ends = endpoint.retry_after_until.strftime("%Y-%m-%d %H:%M:%S UTC")
    held = f"Held until {ends}: the endpoint answered with a Retry-After at "
    listed = admin_client.get(reverse(LIST)).content.decode()
    assert f'<td class="field-held">{held}' in listed
    assert held in _change_page(admin_client, endpoint)


def test_a_hold_that_passed_reads_as_no_hold(
    admin_client, api, receiver, make_endpoint
) -> None:
    endpoint, _ = _held(receiver, make_endpoint)
    read = api.get(f"{API}{endpoint.public_id}/").json()
    assert read["retry_after_until"] is not None  # the API shows a hold
    passed = timezone.now() - timedelta(seconds=5)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(retry_after_until=passed)

    assert "Held until" not in _change_page(admin_client, endpoint)
    listed = admin_client.get(reverse(LIST)).content.decode()
    assert '<td class="field-held">-</td>' in listed
    assert api.get(f"{API}{endpoint.public_id}/").json()["retry_after_until"] is None


def test_staff_lift_the_hold_and_the_held_rows_are_sent(
    admin_client,
    admin_user,
    receiver,
    make_endpoint,
    caplog,
    django_capture_on_commit_callbacks,
) -> None:
    endpoint, (_first, second) = _held(receiver, make_endpoint)
    caplog.set_level(logging.INFO, logger="storefront_hooks")
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            reverse(LIST),
            {"action": "lift_retry_after_hold", "_selected_action": [endpoint.pk]},
            follow=True,
        )
    assert "hold lifted" in answer.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.retry_after_until is None
    # The row put back for the hold was sent (the queue runs in tests).
    second.refresh_from_db()
    assert second.status == "delivered"
    entry = LogEntry.objects.get(object_id=str(endpoint.pk), action_flag=CHANGE)
    assert entry.user == admin_user
    assert "Retry-After hold lifted" in entry.get_change_message()
    lifted = [r for r in caplog.records if "hold lifted" in r.getMessage()]
    assert lifted and lifted[0].actor == admin_user.get_username()


def test_lifting_an_endpoint_not_held_changes_nothing(
    admin_client, make_endpoint
) -> None:
    endpoint = make_endpoint()[0]
    answer = admin_client.post(
        reverse(LIST),
        {"action": "lift_retry_after_hold", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    assert "Not held by a Retry-After" in answer.content.decode()
    assert not LogEntry.objects.filter(object_id=str(endpoint.pk)).exists()
