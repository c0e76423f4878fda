"""Issue 17's rule 1 for email: a provider's published limit is checked at
our API against every enabled email account (failover may send to any), so
a message no provider would take is a 400 naming the field, nothing queued."""

import json
from urllib.parse import parse_qsl

import pytest
import responses
from rest_framework.test import APIClient

from notifications.models import EmailMessage
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.notifications.contract import harness_mailgun, harness_sendgrid

EMAILS = "/api/v1/notifications/emails/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _newsletter(api: APIClient, headline: str, **extra: str):
    body = {
        "to": "ada@example.com",
        "template": "newsletter",
        "category": "marketing",
        "context": {"headline": headline, "body": "News."},
        **extra,
    }
    return api.post(EMAILS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")


@pytest.mark.parametrize("harness", [harness_sendgrid, harness_mailgun])
def test_an_empty_subject_is_refused_when_every_enabled_account_needs_one(
    api, harness, django_capture_on_commit_callbacks
) -> None:
    # sendgrid/oai.json (subject minLength 1) and mailgun/openapi.yaml
    # (subject required unless a stored template sets it): anymail leaves an
    # empty subject out (SendGrid) or sends it empty (Mailgun) to be refused.
    # An enabled account that takes it would send it (mail41): disabled here.
    ProviderAccountFactory(
        kind="email", slug="sandbox-first", priority=1, enabled=False
    )
    account = harness.make_account()
    account.priority = 2
    account.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = _newsletter(api, "   ")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "subject_empty"
    assert error["param"] == "context"
    assert EmailMessage.objects.count() == 0


def test_an_empty_subject_passes_when_no_enabled_account_needs_one(
    api, django_capture_on_commit_callbacks
) -> None:
    ProviderAccountFactory(kind="email", slug="sandbox-first", priority=1)
    account = harness_sendgrid.make_account()
    account.enabled = False
    account.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = _newsletter(api, "   ")
    assert response.status_code == 201, response.content


def _longest_inputs(api: APIClient, django_capture_on_commit_callbacks):
    local = "a" * 64
    domain = ".".join(["b" * 60] * 3) + ".example"
    to = f"{local}@{domain}"[:254]
    with django_capture_on_commit_callbacks(execute=True):
        response = _newsletter(api, "News " * 150, to=to, order_id="9" * 64)
    assert response.status_code == 201, response.content


def test_the_longest_accepted_message_fits_sendgrid_published_limits(
    api, django_capture_on_commit_callbacks
) -> None:
    harness_sendgrid.make_account()
    with responses.RequestsMock() as rsps:
        rsps.post(harness_sendgrid.SEND_URL, status=202, body=b"")
        _longest_inputs(api, django_capture_on_commit_callbacks)
        sent = json.loads(rsps.calls[0].request.body)
    # sendgrid/oai.json: categories at most 10 of 255 characters; custom_args
    # at most 10,000 bytes in all; one personalization of one recipient.
    categories = sent.get("categories", [])
    assert len(categories) <= 10
    assert all(len(c) <= 255 for c in categories)
    custom = [sent.get("custom_args", {})]
    custom += [p.get("custom_args", {}) for p in sent["personalizations"]]
    assert sum(len(json.dumps(c).encode()) for c in custom) <= 10_000
    assert len(sent["personalizations"]) == 1
    assert len(sent["personalizations"][0]["to"]) == 1


def test_the_longest_accepted_message_fits_mailgun_published_limits(
    api, django_capture_on_commit_callbacks
) -> None:
    harness_mailgun.make_account()
    with responses.RequestsMock() as rsps:
        rsps.post(
            harness_mailgun.SEND_URL,
            json={"id": "<1@mg.example.com>", "message": "Queued. Thank you."},
        )
        _longest_inputs(api, django_capture_on_commit_callbacks)
        request = rsps.calls[0].request
    # mailgun/openapi.yaml: send options (o:, h:, v:, t:) 16KB in all.
    assert "x-www-form-urlencoded" in request.headers["Content-Type"]
    fields = parse_qsl(request.body, keep_blank_values=True)
    options = sum(
        len(name.encode()) + len(value.encode())
        for name, value in fields
        if name[:2] in ("o:", "h:", "v:", "t:")
    )
    assert 0 < options <= 16 * 1024


def test_a_bulk_recipient_whose_subject_renders_empty_is_refused_by_row(
    api,
) -> None:
    harness_sendgrid.make_account()
    body = {
        "template": "newsletter",
        "context": {"body": "News."},
        "recipients": [
            {"email": "ada@example.com", "context": {"headline": "Hello"}},
            {"email": "bob@example.com", "context": {"headline": " "}},
        ],
    }
    response = api.post(
        "/api/v1/notifications/bulk-sends/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY="bulk-1",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "subject_empty"
    assert error["param"] == "recipients[1].context"
    assert EmailMessage.objects.count() == 0
