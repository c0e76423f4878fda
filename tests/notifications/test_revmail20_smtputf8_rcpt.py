"""RFC 6531's refusal of a UTF-8 message names the sender *or* the
recipient: 553 5.6.7 "Non-ASCII addresses not permitted for that
sender/recipient" (RFC 5248's X.6.7). mail20 read it at MAIL FROM as
``unsupported_message`` (this relay cannot carry the message: failed over,
nobody blamed), but the same reply at RCPT, for a valid recipient of a
message with our UTF-8 sender, still failed the message as
``invalid_recipient``, "The provider refused the recipient's address.":
the customer's address blamed for what no relay on the way could carry.
It is ``unsupported_message`` there too; any other 5xx at RCPT stays the
recipient's."""

import pytest

from integrations.models import ProviderAccount
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.scripted_relay import (
    CUSTOMER,
    ScriptedRelay,
    relay_account,
    utf8_relay,  # noqa: F401 (the ``relay`` fixture)
)

pytestmark = pytest.mark.django_db

REFUSAL = "553 5.6.7 Non-ASCII addresses not permitted for that recipient"


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    return relay_account(relay, slug="relay-revmail20-rcpt")


def _delivered() -> tuple[str, EmailMessage]:
    message = email_message_create(
        to=CUSTOMER,
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        from_email="tiënda@example.com",
        enqueue=False,
    )
    status = email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return status, message


def test_a_refused_smtputf8_at_rcpt_fails_over(smtp, relay) -> None:
    backup = ProviderAccountFactory(kind="email", slug="revmail20-backup", priority=2)
    relay.replies["RCPT"] = REFUSAL
    status, message = _delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()


def test_with_no_other_account_it_fails_with_that_reason(smtp, relay) -> None:
    relay.replies["RCPT"] = REFUSAL
    status, message = _delivered()
    # No account can carry it: failed at once, not retried (mail41).
    assert status == EmailStatus.FAILED
    assert message.error_code == "unsupported_message"


def test_another_refusal_at_rcpt_is_still_the_recipients(smtp, relay) -> None:
    relay.replies["RCPT"] = "550 5.1.1 No such user here"
    status, message = _delivered()
    assert status == EmailStatus.FAILED
    assert message.error_code == "invalid_recipient"
