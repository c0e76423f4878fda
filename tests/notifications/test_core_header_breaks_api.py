"""What the storefront sends that becomes a provider's header or metadata
(``order_id``) holding a CR, LF or NUL is a 400 ``invalid_header`` naming the
field, with nothing stored or sent; the subject, rendered from its context,
is one line whatever the context holds."""

import pytest
from rest_framework.test import APIClient

from notifications.api_examples import SEND_REQUEST
from notifications.models import EmailMessage, SandboxEmail
from notifications.services import EmailInvalid, email_message_create
from tests.factories import ApiKeyFactory

EMAILS = "/api/v1/notifications/emails/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _send(api: APIClient, body: dict):
    return api.post(EMAILS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")


@pytest.mark.parametrize(
    "order_id",
    ["o-1\r\nBcc: x@evil.example", "o-1\nBcc: x@evil.example", "o-1\rx"],
    ids=["crlf", "lf", "cr"],
)
def test_an_order_id_with_a_line_break_is_refused(
    api, email_accounts, order_id, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        answer = _send(api, {**SEND_REQUEST, "order_id": order_id})

    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_header", "order_id")
    assert "evil" not in error["message"]
    assert not EmailMessage.objects.exists()
    assert not SandboxEmail.objects.exists()


def test_the_service_refuses_a_nul_in_an_order_id() -> None:
    # The API's parser refuses a NUL first; other callers reach the service.
    with pytest.raises(EmailInvalid) as info:
        email_message_create(
            to="ada@example.com",
            template=SEND_REQUEST["template"],
            context=SEND_REQUEST["context"],
            order_id="o-1\x00",
        )
    assert (info.value.code, info.value.param) == ("invalid_header", "order_id")
    assert not EmailMessage.objects.exists()


def test_a_line_break_in_the_context_leaves_the_subject_one_line(
    api, email_accounts, django_capture_on_commit_callbacks
) -> None:
    context = {**SEND_REQUEST["context"]}
    name = next(iter(context))
    context[name] = f"{context[name]}\r\nBcc: x@evil.example"
    with django_capture_on_commit_callbacks(execute=True):
        answer = _send(api, {**SEND_REQUEST, "context": context})

    assert answer.status_code == 201, answer.content
    subject = answer.json()["subject"]
    assert "\r" not in subject and "\n" not in subject
    assert SandboxEmail.objects.count() == 1
