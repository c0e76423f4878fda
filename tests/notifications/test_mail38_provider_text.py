"""Issue 17's rule 3 for email: a provider's error text never reaches the
storefront (our sentence per error code), and what staff keep of it has the
account's secrets masked. A canary secret is planted in each provider's
credentials and echoed in the fake provider's error body; neither the API's
answers, nor any stored row, nor any log record may hold it."""

import json
import logging
import time
from typing import Any

import pytest
import responses
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from integrations.models import ProviderCall, WebhookEvent
from notifications.models import EmailEvent, EmailMessage, Suppression
from tests.factories import ApiKeyFactory
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)
from tests.notifications.sendgrid_hooks import signed_post

pytestmark = pytest.mark.django_db

CANARY = "CANARY-7f3e9a1b2c5d"
WORDS = "the provider says"  # the provider's own wording, echoed with it


def _plant(account: Any, name: str) -> None:
    account.set_credentials({**account.get_credentials(), name: CANARY})
    account.save()


def _echo(status: int) -> str:
    return f"{WORDS}: credential {CANARY} at status {status}"


def _sendgrid(rsps, status: int):
    account = harness_sendgrid.make_account()
    _plant(account, "api_key")
    body = {"errors": [{"message": _echo(status), "field": None, "help": CANARY}]}
    rsps.post(harness_sendgrid.SEND_URL, status=status, json=body)
    return account


def _mailgun(rsps, status: int):
    account = harness_mailgun.make_account()
    _plant(account, "api_key")
    rsps.post(harness_mailgun.SEND_URL, status=status, json={"message": _echo(status)})
    return account


def _postmark(rsps, status: int):
    account = harness_postmark.make_account()
    _plant(account, "server_token")
    body = {"ErrorCode": 300 if status < 500 else 0, "Message": _echo(status)}
    rsps.post(harness_postmark.SEND_URL, status=status, json=body)
    return account


def _ses(rsps, status: int):
    account = harness_amazon_ses.make_account()
    _plant(account, "secret_access_key")
    code = "InvalidParameterValue" if status < 500 else "InternalFailure"
    harness_amazon_ses.stub(account).add_client_error(
        "send_email",
        service_error_code=code,
        service_message=_echo(status),
        http_status_code=status,
    )
    return account


PROVIDERS = {"sendgrid": _sendgrid, "mailgun": _mailgun, "postmark": _postmark}
PROVIDERS["amazon_ses"] = _ses


def _text(value: Any) -> str:
    return json.dumps(value, default=str)


@pytest.mark.parametrize("status", [400, 500])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_provider_echoing_a_secret_leaks_it_nowhere(
    provider, status, caplog, django_capture_on_commit_callbacks
) -> None:
    caplog.set_level(logging.DEBUG)
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        PROVIDERS[provider](rsps, status)
        body = {
            "to": "ada@example.com",
            "template": "order_confirmation",
            "context": {"order_id": "o-1", "amount_display": "€1.00"},
        }
        with django_capture_on_commit_callbacks(execute=True):
            sent = api.post(
                "/api/v1/notifications/emails/",
                body,
                format="json",
                HTTP_IDEMPOTENCY_KEY="k-1",
            )
    assert sent.status_code == 201, sent.content
    message = EmailMessage.objects.get()
    assert message.attempts == 1  # the provider was called
    detail = api.get(f"/api/v1/notifications/emails/{message.public_id}/")
    listing = api.get("/api/v1/notifications/emails/")
    for answer in (sent, detail, listing):
        assert CANARY not in answer.content.decode()
        assert WORDS not in answer.content.decode()  # our sentence, not theirs
    rows = [model_to_dict(message), *map(model_to_dict, EmailEvent.objects.all())]
    rows += map(model_to_dict, ProviderCall.objects.all())
    assert CANARY not in _text(rows)
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in _text(vars(record))


def test_a_bounce_reason_echoing_a_secret_is_kept_for_staff_masked(
    caplog, django_capture_on_commit_callbacks
) -> None:
    # An event's reason is provider text kept for staff (the admin): masked.
    caplog.set_level(logging.DEBUG)
    account = harness_sendgrid.make_account()
    _plant(account, "api_key")
    bounce = harness_sendgrid.event(
        "bounce", reason=f"550 5.1.1 {WORDS}: {CANARY}", timestamp=int(time.time())
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(account, [bounce])
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().status == "processed"
    rows = [*map(model_to_dict, EmailEvent.objects.all())]
    rows += map(model_to_dict, Suppression.objects.all())
    assert rows, "the bounce was applied"
    assert CANARY not in _text(rows)
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in _text(vars(record))
