"""The read-only Event admin with deliveries inline."""

import pytest
from django.urls import reverse

from integrations.events import event_delivery_run, event_emit
from integrations.models import DeliveryStatus, Event, EventDelivery
from tests.integrations.events import subscribers
from tests.integrations.events.conftest import SUBS

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


def test_event_list_and_page_are_read_only_with_deliveries(staff_client):
    event = event_emit(
        name="payment.captured", payload={"note": "<b>x</b>"}, subject="payment:9"
    )
    event_delivery_run(delivery_id=event.deliveries.get(subscriber=f"{SUBS}.audit").pk)
    listing = staff_client.get(reverse("admin:integrations_event_changelist"))
    assert listing.status_code == 200
    assert "1/2" in listing.content.decode()  # delivered / subscribers
    page = staff_client.get(reverse("admin:integrations_event_change", args=[event.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"{SUBS}.mailer" in html and "Delivered" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'name="_save"' not in html
    add = staff_client.get(reverse("admin:integrations_event_add"))
    assert add.status_code == 403


def test_retry_action_redelivers_dead_deliveries(
    staff_client, settings, django_capture_on_commit_callbacks
):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {"payment.captured": [f"{SUBS}.flaky"]}
    event = event_emit(name="payment.captured", payload={})
    delivery = event.deliveries.get()
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, attempts=3, last_error="gave up"
    )
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:integrations_event_changelist"),
            {"action": "retry_failed_deliveries", "_selected_action": [event.pk]},
        )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert subscribers.calls == [("flaky", event.pk)]
    assert Event.objects.count() == 1
