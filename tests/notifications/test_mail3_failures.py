"""The storefront's sentence for ``sender_not_verified`` (a provider refused
our sender as not verified: our configuration, not the recipient's address
nor the message)."""

import pytest
from rest_framework.test import APIClient

from notifications.models import EmailStatus
from notifications.services import email_message_create
from notifications.services.failures import BY_STATUS, public_error
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

EMAILS = "/api/v1/notifications/emails/"


@pytest.mark.parametrize("status", [EmailStatus.QUEUED, EmailStatus.FAILED])
def test_an_unverified_sender_has_its_own_sentence(status) -> None:
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        enqueue=False,
    )
    message.status = status
    message.error_code = "sender_not_verified"
    message.save(update_fields=["status", "error_code"])
    key = ApiKeyFactory(scopes=["email:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    detail = client.get(f"{EMAILS}{message.public_id}/").json()
    assert detail["error_code"] == "sender_not_verified"
    sentence = detail["last_error"]
    assert sentence == public_error(message)
    # Not "the provider refused the message" nor the recipient's address.
    assert sentence != BY_STATUS[status]
    assert "sender" in sentence and "recipient" not in sentence
