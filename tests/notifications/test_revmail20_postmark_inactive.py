"""Postmark's ``Inactive`` on a Bounce means Postmark deactivated the address:
it refuses every later message to it on that stream (422, ErrorCode 406).
The docs say any type left ``Inactive`` suppresses the address, but a Type
we do not list (AutoResponder, ChallengeVerification, one Postmark adds
later) gave no record at all: the address stayed mailable here, and every
order mail to it then failed at Postmark. Such a bounce is now a
``deactivated`` record: the address is stopped by the stream's reach, and
the message's status is left as it was (the type says nothing we read)."""

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailEvent, EmailMessage, EmailStatus, Suppression
from notifications.services.suppressions import suppression_blocks
from tests.notifications.contract.harness_postmark import event, make_account, posted

pytestmark = pytest.mark.django_db

ADDRESS = "away@example.com"


def _process(account: ProviderAccount, payload: dict) -> WebhookEvent:
    hook = posted(payload)
    response = Client().post(
        f"/webhooks/{account.slug}/",
        data=hook.body,
        content_type="application/json",
        headers={"Authorization": hook.headers["Authorization"]},
    )
    assert response.status_code == 200
    row = WebhookEvent.objects.get(
        account=account, dedupe_key=f"Bounce:{payload['ID']}"
    )
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    assert row.status == WebhookStatus.PROCESSED, row.last_error
    return row


@pytest.mark.parametrize(
    "kind", ["AutoResponder", "ChallengeVerification", "Brand new"]
)
def test_an_unlisted_bounce_type_left_inactive_suppresses_all_mail(kind) -> None:
    account = make_account()
    payload = event("bounce_autoresponder", Type=kind, Inactive=True, CanActivate=True)
    _process(account, payload)
    (stop,) = Suppression.objects.filter(address=ADDRESS)
    assert stop.reason == "deactivated"
    assert stop.account_id == account.pk
    assert suppression_blocks(ADDRESS, "transactional") is not None


def test_on_the_broadcast_stream_it_stops_marketing_mail_only() -> None:
    account = make_account()
    account.settings = {**account.settings, "broadcast_stream": "broadcast"}
    account.save()
    payload = event(
        "bounce_autoresponder", Inactive=True, MessageStream="broadcast", ID=77
    )
    _process(account, payload)
    (stop,) = Suppression.objects.filter(address=ADDRESS)
    assert (stop.reason, stop.stream) == ("unsubscribe", "broadcast")
    assert suppression_blocks(ADDRESS, "transactional") is None


def test_the_message_keeps_its_status_and_shows_the_event() -> None:
    account = make_account()
    message = EmailMessage.objects.create(
        account=account,
        to_email=ADDRESS,
        from_email="shop@example.com",
        template="order_confirmation",
        subject="Your order",
        text_body="Thanks",
        status=EmailStatus.DELIVERED,
        provider_message_id="2706ee8a-737c-4285-b032-ccd317af53f0",
    )
    _process(account, event("bounce_autoresponder", Inactive=True))
    message.refresh_from_db()
    assert message.status == EmailStatus.DELIVERED
    (seen,) = EmailEvent.objects.filter(message=message)
    assert seen.type == "deactivated"
    assert seen.details["type"] == "AutoResponder"
    assert Suppression.objects.get(address=ADDRESS).reason == "deactivated"


def test_an_unlisted_type_not_left_inactive_still_gives_nothing() -> None:
    account = make_account()
    row = _process(account, event("bounce_autoresponder", Inactive=False))
    assert not Suppression.objects.exists()
    assert not EmailEvent.objects.exists()
    assert row.status == WebhookStatus.PROCESSED
