"""A relay's reply that quotes what the customer controls (the recipient's
address, a quoted local part) cannot make a refusal of the recipient read as
our configuration: the words that mean "our sender" or "our relaying" count
only outside what the reply quotes. Otherwise a recipient named
"Relay access denied"@... would have every account tried, staff alerted, and
the address never blamed. The intake refuses such addresses today (a quoted
local part, for the providers' comma lists); the adapter's reading must not
depend on that. The relay's own words still count
(test_mail4_config_refusals.py), at RCPT and at the end of DATA."""

import logging

import pytest

from integrations.errors import ConfigurationError, NotProcessed, Rejected
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from notifications.models import EmailMessage
from notifications.services import EmailInvalid, email_message_create
from tests.notifications.contract.harness import sample_email
from tests.notifications.scripted_relay import (
    ScriptedRelay,
    error_records,
    relay_account,
    utf8_relay,  # noqa: F401 (the ``relay`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    return relay_account(relay, slug="relay-quotes")


SENDER = '"sender address rejected"@example.com'
RELAY = '"relay access denied"@example.com'
PERMISSIONS = '"permissions to send as"@example.com'

# (recipient, verb, reply): each refuses the recipient, quoting it.
QUOTING = [
    (SENDER, "RCPT", f"550 5.1.1 <{SENDER}>: Recipient address rejected: unknown"),
    (RELAY, "RCPT", f"550 5.1.1 <{RELAY}>: Recipient address rejected: unknown"),
    (RELAY, "RCPT", f"550 5.1.1 {RELAY}... User unknown"),
    # A relay that prints the local part without its quotes.
    (RELAY, "RCPT", "550 5.1.1 relay access denied@example.com... User unknown"),
    (SENDER, "RCPT", "550 No such user here (sender address rejected@example.com)"),
    (
        PERMISSIONS,
        "DATA",
        f"550 5.7.1 Delivery not authorized, message refused: <{PERMISSIONS}>",
    ),
]
QUOTING_IDS = [
    "sender-bracketed",
    "relay-bracketed",
    "relay-sendmail",
    "relay-unquoted",
    "sender-unquoted",
    "data-permissions",
]


@pytest.mark.parametrize(("to", "verb", "reply"), QUOTING, ids=QUOTING_IDS)
def test_a_quoted_recipient_does_not_read_as_our_configuration(
    smtp, relay, caplog, to, verb, reply
) -> None:
    relay.replies[verb] = reply
    with caplog.at_level(logging.ERROR), pytest.raises(Rejected) as info:
        get_adapter(smtp).send(sample_email(to=to))
    assert not isinstance(info.value, ConfigurationError)
    expected = "invalid_recipient" if verb == "RCPT" else "message_rejected"
    assert info.value.code == expected
    # No "fix the account" alert for staff.
    assert error_records(caplog) == []


@pytest.mark.parametrize("to", [SENDER, RELAY, "relay access denied@example.com"])
def test_the_storefront_cannot_name_such_a_recipient(to) -> None:
    # The first line of defence (the adapter's reading is the second): a
    # recipient holding spaces, quoted or not, is refused before anything
    # is stored or sent.
    with pytest.raises(EmailInvalid):
        email_message_create(
            to=to,
            template="order_confirmation",
            context={"order_id": "1001", "amount_display": "10.50"},
            enqueue=False,
        )
    assert not EmailMessage.objects.exists()


@pytest.mark.parametrize(
    ("verb", "reply", "code"),
    [
        # The relay's own words, around an address it quotes.
        ("RCPT", f"554 5.7.1 <{RELAY}>: Relay access denied", "sending_not_allowed"),
        (
            "RCPT",
            "553 5.7.1 <shop@example.com>: Sender address rejected: not owned",
            "sender_not_verified",
        ),
        (
            "DATA",
            "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
            "sender_not_verified",
        ),
    ],
    ids=["relay", "sender", "data-5.7.60"],
)
def test_the_relays_own_words_still_read_as_our_configuration(
    smtp, relay, verb, reply, code
) -> None:
    relay.replies[verb] = reply
    with pytest.raises(NotProcessed) as info:
        get_adapter(smtp).send(sample_email(to=RELAY))
    assert isinstance(info.value, ConfigurationError)
    assert info.value.code == code
