"""Outside review of the email API (task "mail"): a recipient the shop's
customer typed is hostile input. An address literal (``ada@[10.0.0.5]``) or
a bare host name (``ada@localhost``) names no mail domain: given to the SMTP
relay on the private network, it has the relay deliver to a host of the
customer's choosing. It is a 400 naming ``to``, and nothing is stored."""

import pytest
from rest_framework.test import APIClient

from notifications.models import EmailMessage
from notifications.services import EmailInvalid, email_message_create
from tests.factories import ApiKeyFactory

EMAILS = "/api/v1/notifications/emails/"
pytestmark = pytest.mark.django_db
ORDER = {"order_id": "o-1", "amount_display": "€1.00"}
NO_MAIL_DOMAIN = [
    "ada@[127.0.0.1]",
    "ada@[10.0.0.5]",
    "ada@[IPv6:::1]",
    "ada@localhost",
    "ada@intranet",
]


@pytest.mark.parametrize("to", NO_MAIL_DOMAIN)
def test_a_recipient_without_a_mail_domain_is_a_400(to) -> None:
    key = ApiKeyFactory(scopes=["email:send"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    body = {"to": to, "template": "order_confirmation", "context": ORDER}
    answer = client.post(EMAILS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_email", "to")
    assert not EmailMessage.objects.exists()


@pytest.mark.parametrize("to", NO_MAIL_DOMAIN)
def test_the_service_refuses_it_too(to) -> None:
    with pytest.raises(EmailInvalid) as info:
        email_message_create(to=to, template="order_confirmation", context=ORDER)
    assert info.value.code == "invalid_email"
    assert not EmailMessage.objects.exists()


@pytest.mark.parametrize("to", ["ada@example.com", "ada@bücher.de", "ada@i❤.ws"])
def test_addresses_on_mail_domains_still_go(to) -> None:
    message = email_message_create(
        to=to, template="order_confirmation", context=ORDER, enqueue=False
    )
    assert message.to_email == to
