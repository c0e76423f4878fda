"""Postmark refuses a send to an address on the stream's suppression list
(422 ErrorCode 406, inactive recipient: "a hard bounce, a spam complaint,
or a manual suppression"). As SendGrid's drop of a listed address does,
that stops the address here too, with Postmark's stream as the stop's
origin (so Postmark's reactivation of it lifts it), and the next message is
stored suppressed instead of being refused again. Sends over a local fault
server, as test_postmark.py; answers: tests/fixtures/postmark/api.json."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import ProviderAccount, WebhookEvent
from integrations.testing.faultserver import FaultServer, respond
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.providers.base import INVALID_RECIPIENT
from notifications.providers.postmark import PostmarkAdapter
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from notifications.services.suppressions import suppression_active
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_postmark import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    event,
    posted,
)
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

API = json.loads((Path(__file__).parents[2] / "fixtures/postmark/api.json").read_text())
ADDRESS = "ada@example.com"  # the address the fixture's 406 names
ORDER = {"order_id": "1001", "amount_display": "€10.50"}
NEWS = {"headline": "Spring", "body": "New stock"}


@pytest.fixture
def postmark(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    url = fault.url + "/"
    monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
    return ProviderAccountFactory(
        kind="email",
        provider="postmark",
        slug="pm",
        credentials={
            "server_token": "server-token",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        },
        settings=fast(),
    )


def _sent(category: str = "transactional") -> EmailMessage:
    if category == "marketing":
        message = email_message_create(
            to=ADDRESS,
            template="newsletter",
            category="marketing",
            context=NEWS,
            enqueue=False,
        )
    else:
        message = email_message_create(
            to=ADDRESS, template="order_confirmation", context=ORDER, enqueue=False
        )
    if message.status == EmailStatus.QUEUED:
        email_message_deliver(message_pk=message.pk)
        message.refresh_from_db()
    return message


def test_an_inactive_recipient_is_suppressed_with_postmarks_origin(
    postmark, fault
) -> None:
    fault.route("POST", "/email", respond(422, json=API["inactive_recipient"]))
    message = _sent()
    assert message.status == EmailStatus.FAILED
    assert message.error_code == INVALID_RECIPIENT
    stop = suppression_active(ADDRESS)
    assert stop is not None
    assert (stop.reason, stop.account_id, stop.stream) == (
        "deactivated",
        postmark.pk,
        "outbound",
    )
    assert stop.source == message.public_id
    assert stop.occurred_at is not None


def test_the_next_message_is_not_sent_to_be_refused_again(postmark, fault) -> None:
    fault.route("POST", "/email", respond(422, json=API["inactive_recipient"]))
    _sent()
    again = _sent()
    assert again.status == EmailStatus.SUPPRESSED
    assert len(fault.requests_for("POST", "/email")) == 1


def test_on_the_broadcast_stream_only_marketing_mail_stops(postmark, fault) -> None:
    fault.route("POST", "/email", respond(422, json=API["inactive_recipient"]))
    _sent("marketing")
    stop = suppression_active(ADDRESS)
    assert (stop.reason, stop.stream) == ("unsubscribe", "broadcast")
    fault.route("POST", "/email", respond(200, json=API["send_ok"]))
    assert _sent().status == EmailStatus.SENT


def test_postmarks_reactivation_lifts_the_stop(postmark, fault) -> None:
    fault.route("POST", "/email", respond(422, json=API["inactive_recipient"]))
    _sent()
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    hook = posted(event("resubscribe", Recipient=ADDRESS, ChangedAt=later))
    response = Client().post(
        f"/webhooks/{postmark.slug}/",
        data=hook.body,
        content_type="application/json",
        headers={"Authorization": hook.headers["Authorization"]},
    )
    assert response.status_code == 200
    row = WebhookEvent.objects.get(account=postmark)
    assert webhook_event_process(event_id=row.pk) == "processed"
    assert suppression_active(ADDRESS) is None


def test_an_invalid_address_is_not_suppressed(postmark, fault) -> None:
    # ErrorCode 300 says the address is malformed, not that Postmark stops
    # it: the message fails, nothing is suppressed.
    refusal = f"Invalid 'To' address: '{ADDRESS}'."
    body = {**API["invalid_recipient"], "Message": refusal}
    fault.route("POST", "/email", respond(422, json=body))
    assert _sent().error_code == INVALID_RECIPIENT
    assert not Suppression.objects.exists()


def test_an_ok_that_skips_the_inactive_recipient_suppresses_it_too(
    postmark, fault
) -> None:
    # Anymail's Postmark backend: "Message OK, but will not deliver to these
    # inactive addresses: ..." with our only recipient named is a refusal.
    body = {
        **API["send_ok"],
        "Message": "Message OK, but will not deliver to these inactive addresses: "
        f"{ADDRESS}. Inactive recipients are ones that have generated a hard "
        "bounce or a spam complaint.",
    }
    fault.route("POST", "/email", respond(200, json=body))
    assert _sent().error_code == INVALID_RECIPIENT
    assert suppression_active(ADDRESS).reason == "deactivated"
