"""More wake-ups for single sends waiting for a paused account (or for no
usable account at all), each failing before:

- a NEW enabled email account (the admin's add form, ``setup_demo``) wakes
  them, as enabling one does; a new disabled one does not;
- the breaker closing by itself after a successful probe wakes them, at
  most once per EMAIL_WAKE_INTERVAL_SECONDS per account (a flapping breaker
  does not enqueue every waiting send each time it closes); staff's own
  wake-ups are not limited;
- a wake-up that comes while a send is under way (claimed, its account
  still paused when it was tried) has it tried again at once, not after a
  fresh backoff."""

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.urls import reverse

from integrations.breaker import breaker_for, breaker_mode_set
from integrations.clock import database_now
from integrations.errors import NotProcessed
from integrations.events import event_delivery_run
from integrations.models import DeliveryStatus, EventDelivery, ProviderAccount
from integrations.models.accounts import BreakerMode
from notifications import wiring
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.services import email_waiting_wake, sending
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.integrations.account_forms import account_change_data
from tests.notifications.sends import order_mail
from tests.notifications.waiting import sent_once, waiting_mail

pytestmark = pytest.mark.django_db
WAKE = "notifications.wiring.email_wake"


def _far(message: EmailMessage) -> bool:
    """Whether ``message`` still waits minutes for its next try."""
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED
    return (message.retry_at - database_now()).total_seconds() > 200


# -- a new account -------------------------------------------------------


@pytest.fixture
def no_account(settings, django_capture_on_commit_callbacks) -> EmailMessage:
    """An order mail that found no email account three times."""
    settings.EMAIL_RETRY_AFTER_SECONDS = 60
    settings.BATCH_DEFER_MAX_SECONDS = 1800
    return waiting_mail(django_capture_on_commit_callbacks)


def _add_form(new: ProviderAccount) -> dict:
    """The add page as staff post it: its breaker select sent at its default
    (left out, the form reads it as changed and the breaker's mode-changed
    event wakes the sends whatever the account_enabled event does)."""
    return account_change_data(
        new,
        priority="1",
        breaker_mode="auto",
        **{"credential__api_key": "sbx_test_key", "credential__webhook_secret": "x"},
    )


def test_an_account_added_in_the_admin_sends_it_now(
    no_account, admin_client, django_capture_on_commit_callbacks
) -> None:
    new = ProviderAccount(
        kind="email", provider="sandbox", slug="mail-new", display_name="New"
    )
    data = _add_form(new)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:integrations_provideraccount_add"), data
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    sent_once(no_account)
    # One wake-up: the account's enabling (its breaker mode left as it was).
    wakes = EventDelivery.objects.filter(subscriber=WAKE)
    assert wakes.count() == 1


def test_an_account_added_disabled_wakes_nothing(
    no_account, admin_client, django_capture_on_commit_callbacks
) -> None:
    new = ProviderAccount(
        kind="email", provider="sandbox", slug="mail-new", display_name="New"
    )
    data = _add_form(new)
    del data["enabled"]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:integrations_provideraccount_add"), data
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _far(no_account)


def test_accounts_the_demo_command_creates_send_it_now(
    no_account, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("setup_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    sent_once(no_account)


# -- the breaker closing by itself ------------------------------------------


def _trip(account: ProviderAccount) -> None:
    breaker = breaker_for(account)
    for _ in range(5):
        breaker.record_failure(NotProcessed("refused", code="connection_refused"))


def _open_time_over(account: ProviderAccount) -> None:
    """The breaker's open period over: the next call is its one probe."""
    store = breaker_for(account).store
    record = store.record()
    record["opened_until"] = store.now() - 1
    store.save_record(record)


def _probe_succeeds(account: ProviderAccount, oncommit) -> None:
    """A fresh order mail is the probe; it goes, and the breaker closes."""
    _open_time_over(account)
    with oncommit(execute=True):
        probe = order_mail(to="probe@example.com")
        assert email_message_deliver(message_pk=probe.pk) == EmailStatus.SENT
    assert breaker_for(account).snapshot().state == "closed"


@pytest.fixture
def tripped(settings) -> ProviderAccount:
    """The one email account, its breaker opened by failures."""
    settings.EMAIL_RETRY_AFTER_SECONDS = 60
    settings.BATCH_DEFER_MAX_SECONDS = 1800
    settings.EMAIL_WAKE_INTERVAL_SECONDS = 600
    account = ProviderAccountFactory(kind="email", slug="mail-only", priority=1)
    _trip(account)
    return account


def _sent(message: EmailMessage) -> bool:
    message.refresh_from_db()
    return message.status == EmailStatus.SENT


def test_the_breaker_closing_by_itself_sends_it_now(
    tripped, django_capture_on_commit_callbacks
) -> None:
    message = waiting_mail(django_capture_on_commit_callbacks)
    _probe_succeeds(tripped, django_capture_on_commit_callbacks)
    assert _sent(message)
    assert message.attempts == 1
    assert SandboxEmail.objects.count() == 2  # the probe and the message


def test_a_flapping_breaker_wakes_them_once_an_interval(
    tripped, django_capture_on_commit_callbacks
) -> None:
    first = waiting_mail(django_capture_on_commit_callbacks)
    _probe_succeeds(tripped, django_capture_on_commit_callbacks)
    assert _sent(first)

    # Open again at once, and closed again within the interval: the send
    # that waited meanwhile keeps its wait (the sweep takes it then).
    _trip(tripped)
    second = waiting_mail(django_capture_on_commit_callbacks)
    _probe_succeeds(tripped, django_capture_on_commit_callbacks)
    assert _far(second)

    # Staff's own wake-up is not limited.
    breaker_mode_set(account=tripped, mode=BreakerMode.FORCED_OPEN, actor="ops")
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=tripped, mode=BreakerMode.AUTO, actor="ops")
    assert _sent(second)


def test_a_close_whose_wake_up_failed_wakes_them_on_the_retry(
    tripped, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """The wake-up of the breaker's own close fails (its transaction rolled
    back: a deadlock, a lost connection): its delivery's retry, within the
    interval, still wakes the waiting send. Before, the stamp set before the
    failure made the retry skip it, and it waited out its backoff."""
    message = waiting_mail(django_capture_on_commit_callbacks)
    original = wiring.email_waiting_wake

    def fails(*args, **kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(wiring, "email_waiting_wake", fails)
    _probe_succeeds(tripped, django_capture_on_commit_callbacks)
    delivery = EventDelivery.objects.get(
        event__name="integrations.breaker_closed", subscriber=WAKE
    )
    assert delivery.status == DeliveryStatus.FAILED
    assert _far(message)

    monkeypatch.setattr(wiring, "email_waiting_wake", original)
    with django_capture_on_commit_callbacks(execute=True):
        assert event_delivery_run(delivery_id=delivery.pk) == DeliveryStatus.DELIVERED
    assert _sent(message)


def test_each_accounts_close_has_its_own_interval(
    tripped, django_capture_on_commit_callbacks
) -> None:
    """Account A's close woke the waiting sends; account B closing by itself
    within A's interval still wakes those waiting since."""
    other = ProviderAccountFactory(kind="email", slug="mail-two", priority=2)
    _trip(other)
    first = waiting_mail(django_capture_on_commit_callbacks)
    _probe_succeeds(tripped, django_capture_on_commit_callbacks)
    assert _sent(first)

    _trip(tripped)  # A open again (its open time not over): B is the probe
    second = waiting_mail(django_capture_on_commit_callbacks)
    _probe_succeeds(other, django_capture_on_commit_callbacks)
    assert _sent(second)
    assert second.account_id == other.pk


# -- a wake-up racing a send ---------------------------------------------


def test_a_wake_up_during_the_send_has_it_tried_again_now(
    paused, sends_enqueued, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """The send claimed the message and met the paused account; before it
    records its wait, staff set the account back and the wake-up runs (it
    finds the message ``sending``, not waiting). The send then must not set
    a fresh backoff on it."""
    # Only the wake-up run by hand below, at the race's moment.
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    message = order_mail()
    original = sending.run_with_failover

    def racing(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        finally:
            assert EmailMessage.objects.get(pk=message.pk).status == "sending"
            breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
            email_waiting_wake()

    monkeypatch.setattr(sending, "run_with_failover", racing)
    with django_capture_on_commit_callbacks(execute=True):
        assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
    message.refresh_from_db()
    assert message.retry_at <= database_now()
    assert sends_enqueued == [message.pk]

    monkeypatch.setattr(sending, "run_with_failover", original)
    email_message_deliver(message_pk=message.pk)
    sent_once(message)


def test_a_send_that_met_no_wake_up_keeps_its_backoff(
    paused, sends_enqueued, django_capture_on_commit_callbacks
) -> None:
    message = order_mail()
    with django_capture_on_commit_callbacks(execute=True):
        email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    # Its first wait: EMAIL_RETRY_AFTER_SECONDS (60) from now.
    assert (message.retry_at - database_now()).total_seconds() > 30
    assert sends_enqueued == []
