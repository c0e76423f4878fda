"""The email log's timeline on the admin page puts a message's steps in
lifecycle order although their times come from different clocks: ours (the
app's), the database's (domain events: the transaction's start) and the
provider's (whole seconds). A provider's "delivered" at 12:00:00 for a
delivery at 12:00:00.9 never shows before our "sent" at 12:00:00.7. Every
entry stays on the page; steps further apart than the clocks' tolerance,
and steps on one clock, keep their own times' order."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from integrations.models import Event
from notifications.models import EmailEvent, EmailMessage
from notifications.services import email_message_create
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


@pytest.fixture
def staff() -> Client:
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def message(email_accounts) -> EmailMessage:
    """A message whose queued step is at .100 of a whole second: ``at(s)``."""
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    message.events.update(occurred_at=at(0.1))
    return message


SECOND = timezone.now().replace(microsecond=0) - timedelta(minutes=5)


def at(seconds: float):
    return SECOND + timedelta(seconds=seconds)


def ours(message: EmailMessage, kind: str, seconds: float) -> None:
    EmailEvent.objects.create(message=message, type=kind, occurred_at=at(seconds))


def providers(message: EmailMessage, kind: str, seconds: float) -> None:
    # From a provider's webhook: its time, to the whole second.
    EmailEvent.objects.create(
        message=message,
        type=kind,
        occurred_at=at(seconds),
        details={"provider": "sandbox"},
    )


def timeline(staff: Client, message: EmailMessage) -> list[str]:
    page = staff.get(f"/admin/notifications/emailmessage/{message.pk}/change/")
    assert page.status_code == 200
    return [entry.title for entry in page.context["timeline"]]


def test_a_delivery_dated_to_its_second_shows_after_our_sent(staff, message) -> None:
    ours(message, "sending", 0.5)
    ours(message, "sent", 0.7)
    providers(message, "delivered", 0)  # delivered at .9
    providers(message, "opened", 0)  # opened at .95
    assert timeline(staff, message) == [
        "queued",
        "sending",
        "sent",
        "delivered",
        "opened",
    ]


def test_a_domain_event_by_the_database_clock_follows_its_step(staff, message) -> None:
    ours(message, "sent", 0.7)
    providers(message, "delivered", 1)
    # Applied in a transaction that began (by the database's clock, a
    # little behind ours) before our sent.
    event = Event.objects.create(
        name="email.delivered", subject=f"email:{message.public_id}"
    )
    Event.objects.filter(pk=event.pk).update(created_at=at(0.6))
    titles = timeline(staff, message)
    assert titles.index("sent") < titles.index("Event email.delivered")
    assert titles.index("sent") < titles.index("delivered")


def test_every_entry_stays_and_steps_far_apart_keep_their_times(staff, message) -> None:
    ours(message, "sending", 0.5)
    ours(message, "sent", 0.7)
    # The provider's clock far off: shown as it says, not moved or hidden.
    providers(message, "delivered", -30)
    providers(message, "opened", 0)
    providers(message, "clicked", 0)
    assert timeline(staff, message) == [
        "delivered",
        "queued",
        "sending",
        "sent",
        "opened",
        "clicked",
    ]


def test_our_own_steps_keep_their_order_on_one_clock(staff, message) -> None:
    # A send retried within the second: queued again after the first try.
    ours(message, "sending", 0.3)
    ours(message, "queued", 0.5)
    ours(message, "sending", 0.8)
    ours(message, "sent", 0.9)
    providers(message, "delivered", 0)
    assert timeline(staff, message) == [
        "queued",
        "sending",
        "queued",
        "sending",
        "sent",
        "delivered",
    ]


def test_the_api_lists_a_messages_events_in_the_same_order(message) -> None:
    ours(message, "sending", 0.5)
    ours(message, "sent", 0.7)
    providers(message, "delivered", 0)
    providers(message, "opened", 0)
    key = ApiKeyFactory(scopes=["email:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    answer = client.get(f"/api/v1/notifications/emails/{message.public_id}/")
    assert answer.status_code == 200
    events = answer.json()["events"]
    assert [e["type"] for e in events] == [
        "queued",
        "sending",
        "sent",
        "delivered",
        "opened",
    ]
    # Each keeps its own time: only the order says what came first.
    times = [parse_datetime(e["occurred_at"]) for e in events]
    assert times[3] < times[2]
