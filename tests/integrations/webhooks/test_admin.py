"""Webhook history in the admin, driven as a staff user."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from tests.factories import ProviderAccountFactory, WebhookEventFactory
from tests.integrations.webhooks import handlers

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:integrations_webhookevent_changelist"


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", "v@example.com", "pw")
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(user)
    return client


def test_changelist_filters_by_account_type_status_and_date(staff_client, account):
    other = ProviderAccountFactory(slug="other")
    WebhookEventFactory(account=account, event_type="payment.succeeded")
    WebhookEventFactory(
        account=other, event_type="payment.failed", status=WebhookStatus.DEAD
    )
    url = reverse(CHANGELIST)
    page = staff_client.get(url)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 2
    for query in (
        {"account__id__exact": other.pk},
        {"status__exact": "dead"},
        {"event_type": "payment.failed"},
    ):
        response = staff_client.get(url, query)
        assert response.status_code == 200
        assert [e.account for e in response.context["cl"].result_list] == [other]
    today = WebhookEvent.objects.first().received_at
    dated = staff_client.get(
        url, {"received_at__year": today.year, "received_at__month": today.month}
    )
    assert dated.context["cl"].result_count == 2


def test_change_page_shows_escaped_payload_and_error(staff_client, account):
    event = WebhookEventFactory(
        account=account,
        payload={"note": "<script>alert(1)</script>", "n": 1},
        last_error="RuntimeError: <b>boom</b>",
        status=WebhookStatus.FAILED,
    )
    url = reverse("admin:integrations_webhookevent_change", args=[event.pk])
    html = staff_client.get(url).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "&quot;n&quot;: 1" in html  # pretty-printed JSON
    assert "RuntimeError: &lt;b&gt;boom&lt;/b&gt;" in html
    assert "Replay this event" in html
    # Read-only: no save button and no add or delete.
    assert 'name="_save"' not in html
    assert (
        staff_client.get(reverse("admin:integrations_webhookevent_add")).status_code
        == 403
    )
    delete = reverse("admin:integrations_webhookevent_delete", args=[event.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_replay_selected_action_reruns_the_handler(
    staff_client, account, django_capture_on_commit_callbacks
):
    events = [WebhookEventFactory(account=account) for _ in range(2)]
    for event in events:
        webhook_event_process(event_id=event.pk)
    assert len(handlers.calls) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse(CHANGELIST),
            {"action": "replay_selected", "_selected_action": [e.pk for e in events]},
            follow=True,
        )
    assert response.status_code == 200
    assert "2 webhook event(s) queued for replay" in response.content.decode()
    assert sorted(pk for pk, _, _ in handlers.calls) == sorted(
        [e.pk for e in events] * 2
    )
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {
        WebhookStatus.PROCESSED
    }


def test_replay_button_revives_a_dead_event(
    staff_client, account, django_capture_on_commit_callbacks
):
    event = WebhookEventFactory(
        account=account, status=WebhookStatus.DEAD, attempts=3, last_error="x"
    )
    url = reverse("admin:integrations_webhookevent_replay", args=[event.pk])
    assert staff_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url)
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (
        WebhookStatus.PROCESSED,
        1,
        "",
    )
    assert handlers.calls == [(event.pk, event.event_type, 1)]


def test_view_only_staff_cannot_replay(viewer_client, account):
    event = WebhookEventFactory(account=account, status=WebhookStatus.DEAD)
    page = viewer_client.get(
        reverse("admin:integrations_webhookevent_change", args=[event.pk])
    )
    assert page.status_code == 200
    assert "Replay this event" not in page.content.decode()
    url = reverse("admin:integrations_webhookevent_replay", args=[event.pk])
    assert viewer_client.post(url).status_code == 403
    viewer_client.post(
        reverse(CHANGELIST),
        {"action": "replay_selected", "_selected_action": [event.pk]},
    )
    event.refresh_from_db()
    assert event.status == WebhookStatus.DEAD
    assert handlers.calls == []
