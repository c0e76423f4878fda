"""Endpoints admin: success rate and last error in the list, the disabled
reason shown, the secret shown once after a rotation, enable sends what
waited."""

import pytest
from django.urls import reverse

from integrations.breaker import breaker_mode_set
from integrations.events import event_emit
from integrations.models.accounts import BreakerMode
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db
LIST = "admin:storefront_hooks_webhookendpoint_changelist"


def _send_events(n: int) -> None:
    for i in range(n):
        event = event_emit(name="payment.captured", payload={"n": i})
        services.event_fan_out(event)
        for row in WebhookDelivery.objects.filter(event=event):
            services.delivery_send(delivery_id=row.pk)


def test_list_shows_success_rate_last_error_and_reason(
    admin_client, receiver, make_endpoint
) -> None:
    receiver.route("POST", HOOK_PATH, respond(200), respond(410))
    endpoint, _ = make_endpoint()
    _send_events(2)
    page = admin_client.get(reverse(LIST)).content.decode()
    assert "50% of 2" in page
    assert "provider answered HTTP 410" in page
    assert "The endpoint answered 410 Gone." in page
    endpoint.refresh_from_db()
    assert not endpoint.enabled


def test_rotate_shows_the_new_secret_once(admin_client, make_endpoint) -> None:
    endpoint, old = make_endpoint()
    url = reverse("admin:storefront_hooks_webhookendpoint_rotate", args=[endpoint.pk])
    assert admin_client.get(url).status_code == 405
    page = admin_client.post(url)
    assert "no-store" in page["Cache-Control"]
    endpoint.refresh_from_db()
    new, previous = endpoint.signing_secrets()
    assert previous == old and new in page.content.decode()
    change = reverse(
        "admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]
    )
    assert new not in admin_client.get(change).content.decode()


def test_enable_action_sends_what_waited(
    admin_client, receiver, make_endpoint, django_capture_on_commit_callbacks
) -> None:
    receiver.route("POST", HOOK_PATH, respond(410), respond(200))
    endpoint, _ = make_endpoint()
    _send_events(1)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse(LIST),
            {"action": "enable_endpoints", "_selected_action": [endpoint.pk]},
        )
    assert WebhookDelivery.objects.get().status == "delivered"
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 2
    # The delivery's page says when staff restarted it (the age limit's start).
    delivery = WebhookDelivery.objects.get()
    assert delivery.restarted_at is not None
    page = admin_client.get(
        reverse("admin:storefront_hooks_webhookdelivery_change", args=[delivery.pk])
    ).content.decode()
    assert "Restarted at" in page


def test_list_and_page_show_deliveries_paused_by_a_forced_open_breaker(
    admin_client, make_endpoint
) -> None:
    endpoint, _ = make_endpoint()
    assert "Paused since" not in admin_client.get(reverse(LIST)).content.decode()
    breaker_mode_set(
        account=endpoint.account, mode=BreakerMode.FORCED_OPEN, actor="ops"
    )
    change = reverse(
        "admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]
    )
    for url in (reverse(LIST), change):
        page = admin_client.get(url).content.decode()
        assert "Paused since" in page
        assert "circuit breaker mode set to forced open by ops" in page


def test_a_change_form_saved_after_the_endpoint_was_deleted_is_a_404(
    admin_client, make_endpoint, monkeypatch
) -> None:
    endpoint, _ = make_endpoint()
    check = services.endpoint_check

    def check_then_delete(*args):
        check(*args)
        services.endpoint_delete(endpoint=endpoint)

    monkeypatch.setattr(services, "endpoint_check", check_then_delete)
    change = reverse(
        "admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]
    )
    form = {
        "url": endpoint.url,
        "description": "billing",
        "event_types": "payment.*",
        "mode": endpoint.mode,
    }
    # (The delete here runs in the admin's own transaction, which the 404
    # rolls back; another staff member's delete would stay.)
    assert admin_client.post(change, form).status_code == 404


def test_a_change_form_saved_after_a_410_keeps_the_disable_and_the_secret(
    admin_client, receiver, make_endpoint, monkeypatch
) -> None:
    """The form's URL check (DNS) runs before the save: a 410 settled and a
    secret rotated meanwhile stay; only what staff changed is written."""
    endpoint, _ = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(410))
    check = services.endpoint_check
    rotated: list[str] = []

    def check_while_a_410_arrives(*args):
        check(*args)
        _send_events(1)
        rotated.append(services.endpoint_secret_rotate(endpoint=endpoint))

    monkeypatch.setattr(services, "endpoint_check", check_while_a_410_arrives)
    change = reverse(
        "admin:storefront_hooks_webhookendpoint_change", args=[endpoint.pk]
    )
    form = {
        "url": endpoint.url,
        "description": "billing",
        "event_types": "payment.*",
        "mode": endpoint.mode,
    }
    assert admin_client.post(change, form).status_code == 302

    endpoint.refresh_from_db()
    assert endpoint.description == "billing"
    assert endpoint.signing_secrets()[0] == rotated[0]
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
