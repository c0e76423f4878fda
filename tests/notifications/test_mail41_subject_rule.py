"""A subject that renders empty is refused at our API only when no enabled
account could send it: every enabled account's provider requires a subject
(SendGrid, Mailgun). While one that takes it is enabled the message is
accepted, and failover skips those that refuse it (``EmailAdapter.send``)."""

import pytest
import responses
from rest_framework.test import APIClient

from notifications.models import EmailMessage, EmailStatus
from notifications.services.sending import email_message_deliver
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.notifications.contract import harness_mailgun, harness_sendgrid

EMAILS = "/api/v1/notifications/emails/"
BULK = "/api/v1/notifications/bulk-sends/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


@pytest.fixture
def provider() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(harness_sendgrid.SEND_URL, status=400, json={"errors": []})
        yield rsps


def _blank(api: APIClient, capture):
    body = {
        "to": "ada@example.com",
        "template": "newsletter",
        "category": "marketing",
        "context": {"headline": "  ", "body": "News."},
    }
    with capture(execute=False):
        return api.post(EMAILS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-41")


def _sendgrid_first() -> None:
    account = harness_sendgrid.make_account()
    account.priority = 0
    account.save()


def test_accepted_while_an_enabled_account_takes_an_empty_subject(
    api, provider, django_capture_on_commit_callbacks
) -> None:
    _sendgrid_first()
    sandbox = ProviderAccountFactory(kind="email", slug="sandbox-41", priority=5)

    response = _blank(api, django_capture_on_commit_callbacks)

    assert response.status_code == 201, response.content
    message = EmailMessage.objects.get()
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT
    message.refresh_from_db()
    assert message.account == sandbox
    assert len(provider.calls) == 0  # SendGrid skipped, never called


def test_refused_when_every_enabled_account_requires_a_subject(
    api, provider, django_capture_on_commit_callbacks
) -> None:
    _sendgrid_first()
    mailgun = harness_mailgun.make_account()
    mailgun.priority = 3
    mailgun.save()
    ProviderAccountFactory(kind="email", slug="sandbox-off", priority=5, enabled=False)

    response = _blank(api, django_capture_on_commit_callbacks)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("subject_empty", "context")
    assert EmailMessage.objects.count() == 0


def test_an_account_this_deploy_cannot_call_takes_nothing(
    api, provider, django_capture_on_commit_callbacks
) -> None:
    # Its provider was dropped from the adapters: it sends nothing, so only
    # SendGrid could, and SendGrid requires a subject.
    _sendgrid_first()
    ProviderAccountFactory(kind="email", slug="gone-41", provider="gone", priority=5)

    response = _blank(api, django_capture_on_commit_callbacks)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "subject_empty"


def test_a_bulk_row_is_accepted_while_an_enabled_account_takes_it(
    api, provider, django_capture_on_commit_callbacks
) -> None:
    _sendgrid_first()
    ProviderAccountFactory(kind="email", slug="sandbox-41", priority=5)
    body = {
        "template": "newsletter",
        "context": {"body": "News."},
        "recipients": [
            {"email": "ada@example.com", "context": {"headline": "Hello"}},
            {"email": "bob@example.com", "context": {"headline": " "}},
        ],
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(BULK, body, format="json", HTTP_IDEMPOTENCY_KEY="b-41")

    assert response.status_code == 201, response.content
