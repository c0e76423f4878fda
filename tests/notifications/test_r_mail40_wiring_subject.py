"""Review of mail40: the outbox's order mail whose subject renders empty
while a SendGrid account (which requires one) is enabled beside an account
that does not. No caller is there to be refused, so failover decides, as
for any message accepted before such an account was enabled: the account
that takes an empty subject sends it; only when none can is it ``failed``
with ``subject_empty`` (never stored failed while it could go out)."""

import shutil

import pytest
import responses

from integrations.events import event_delivery_run, event_emit
from integrations.models import DeliveryStatus
from notifications import rendering
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from tests.notifications.contract import harness_sendgrid

pytestmark = pytest.mark.django_db
SUBSCRIBER = "notifications.wiring.order_confirmation_send"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch) -> None:
    from integrations import events

    monkeypatch.setattr(events, "_enqueue", lambda *args, **kwargs: None)


@pytest.fixture
def blank_subject(tmp_path, settings):
    """The shop's templates, the order confirmation's subject edited to a
    variable the event leaves empty."""
    root = tmp_path / "base"
    shutil.copytree(rendering.templates_dir(), root / "templates" / "emails")
    subject = root / "templates" / "emails" / "order_confirmation" / "subject.txt"
    subject.write_text("{{ payment_id }}")
    settings.BASE_DIR = root
    rendering._engine.cache_clear()
    yield
    rendering._engine.cache_clear()


@pytest.fixture
def provider() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(harness_sendgrid.SEND_URL, status=400, json={"errors": []})
        yield rsps


def _deliver_order_mail(capture) -> EmailMessage:
    event = event_emit(
        name="payment.captured",
        payload={
            "order_id": "o-92",
            "amount_captured": 4200,
            "currency": "EUR",
            "customer_email": "ada@example.com",
        },
    )
    delivery = event.deliveries.get(subscriber=SUBSCRIBER)
    with capture(execute=True):
        assert event_delivery_run(delivery_id=delivery.pk) == DeliveryStatus.DELIVERED
    return EmailMessage.objects.get()


def test_an_account_that_takes_an_empty_subject_sends_it(
    blank_subject, email_accounts, provider, django_capture_on_commit_callbacks
) -> None:
    sendgrid = harness_sendgrid.make_account()
    sendgrid.priority = 0  # first in line: skipped, not called
    sendgrid.save()

    message = _deliver_order_mail(django_capture_on_commit_callbacks)

    assert (message.status, message.subject) == (EmailStatus.SENT, "")
    assert message.account == email_accounts[0]
    assert SandboxEmail.objects.get().to_email == "ada@example.com"
    assert len(provider.calls) == 0


def test_with_no_such_account_it_fails_with_subject_empty(
    blank_subject, provider, django_capture_on_commit_callbacks
) -> None:
    harness_sendgrid.make_account()

    message = _deliver_order_mail(django_capture_on_commit_callbacks)

    assert (message.status, message.error_code) == (
        EmailStatus.FAILED,
        "subject_empty",
    )
    assert len(provider.calls) == 0
