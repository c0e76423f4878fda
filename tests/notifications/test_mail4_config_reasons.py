"""When every email account refuses a message for our own configuration (the
sender not verified at SES), the message keeps that reason, not "no provider
available": staff read which account refused and why in the admin, the
storefront reads our sentence for ``sender_not_verified`` in the API. Over a
local fault server, as test_mail2_ses_unverified.py."""

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from integrations.models import ProviderAccount
from integrations.testing.faultserver import FaultServer, fault_server, respond
from notifications.models import EmailStatus
from notifications.providers.amazon_ses import AmazonSesAdapter
from notifications.services import email_message_create
from notifications.services.failures import MESSAGES
from notifications.services.sending import email_message_deliver
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

SEND = "/v2/email/outbound-emails"
ORDER = {"order_id": "1001", "amount_display": "€10.50"}
NOT_VERIFIED = (
    "Email address is not verified. The following identities failed the "
    "check in region EU-WEST-1: shop@example.com"
)


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        yield server


def _ses(fault: FaultServer, slug: str, priority: int) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        slug=slug,
        priority=priority,
        credentials={
            "access_key_id": "AKIAFAULTSERVERTEST",
            "secret_access_key": "secret-not-logged",
        },
        settings=fast(region="eu-west-1"),
    )


@pytest.fixture
def two_ses(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = {"test": fault.url, "live": fault.url}
    monkeypatch.setattr(AmazonSesAdapter, "endpoint_urls", urls)
    _ses(fault, "ses-one", 1)
    _ses(fault, "ses-two", 2)


def _unverified() -> object:
    return respond(
        400,
        json={"message": NOT_VERIFIED},
        headers={"x-amzn-ErrorType": "MessageRejected:http://internal.amazon.com/"},
    )


def _throttled() -> object:
    # Not processed, nothing staff can fix (an SES 5xx would be unknown).
    return respond(
        429,
        json={"message": "Maximum sending rate exceeded."},
        headers={"x-amzn-ErrorType": "TooManyRequestsException:"},
    )


def _deliver() -> tuple[str, object]:
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        from_email="shop@example.com",
        enqueue=False,
    )
    status = email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return status, message


def test_every_account_refusing_our_sender_keeps_that_reason(two_ses, fault) -> None:
    fault.route("POST", SEND, _unverified())
    status, message = _deliver()
    # Still tried again later (staff may verify the sender meanwhile).
    assert status == EmailStatus.QUEUED
    assert message.error_code == "sender_not_verified"
    assert "not verified" in message.last_error
    assert "ses-one" in message.last_error
    assert "secret-not-logged" not in message.last_error


def test_the_retry_event_carries_the_reason(two_ses, fault) -> None:
    fault.route("POST", SEND, _unverified())
    _, message = _deliver()
    event = message.events.order_by("-pk").first()
    assert event.details["code"] == "sender_not_verified"
    assert "not verified" in event.details["reason"]


def test_a_configuration_reason_beats_an_unavailable_account(two_ses, fault) -> None:
    # One account refuses our sender, the other is throttling us: the refusal is
    # what staff can fix, so it is the one kept.
    fault.route("POST", SEND, _unverified(), _throttled())
    _, message = _deliver()
    assert message.error_code == "sender_not_verified"


def test_accounts_that_only_throttle_still_say_no_provider(two_ses, fault) -> None:
    fault.route("POST", SEND, _throttled())
    _, message = _deliver()
    assert message.error_code == "no_provider_available"


def test_the_api_and_the_admin_show_it(two_ses, fault) -> None:
    fault.route("POST", SEND, _unverified())
    _, message = _deliver()
    key = ApiKeyFactory(scopes=["email:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    detail = api.get(f"/api/v1/notifications/emails/{message.public_id}/").json()
    assert detail["error_code"] == "sender_not_verified"
    assert detail["last_error"] == MESSAGES["sender_not_verified"]
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    page = staff.get(f"/admin/notifications/emailmessage/{message.pk}/change/")
    assert page.status_code == 200
    assert b"sender_not_verified" in page.content
    assert b"not verified" in page.content
