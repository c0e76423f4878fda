"""Review of the SMTP reply reading (smtp_replies.py), by the replies real
relays give:

- at MAIL FROM, which names only our sender and server, a refusal that is
  not about the message's declared size or parameters is the account's
  (Gmail's 550 5.4.5 daily sending limit, a 530 authentication required,
  5.3.x the relay's own state): failed over, never the message failed;
- Postfix answers its client, HELO and policy-service (SPF) checks at RCPT
  (smtpd_delay_reject), with our recipient in the text: "Client host
  rejected", "Helo command rejected", and 5.7.23 "Recipient address
  rejected: Message rejected due to: SPF fail" are our sending setup, not
  the customer's address;
- sender authentication (RFC 7372's 5.7.20-5.7.27: SPF, DKIM, DMARC; Gmail's
  5.7.26 "Unauthenticated email ... DMARC policy", Microsoft's 5.7.509) is
  our setup at any command, after DATA too: another account signs for us;
- Gmail's 5.7.1 "unusual rate of unsolicited mail originating from your IP
  address" is our sending server's reputation, after DATA too (a listed
  link in the message is still the message's).
"""

import pytest

from integrations.errors import ConfigurationError, Rejected
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from notifications.models import EmailStatus, Suppression
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.scripted_relay import (
    CUSTOMER,
    ScriptedRelay,
    delivered,
    relay_account,
    utf8_relay,  # noqa: F401 (the ``relay`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(relay: ScriptedRelay) -> ProviderAccount:
    return relay_account(relay, slug="relay-revmailx")


def _refusal(account: ProviderAccount, to: str = CUSTOMER) -> Exception:
    with pytest.raises(Exception) as info:
        get_adapter(account).send(sample_email(to=to))
    return info.value


ACCOUNT_AT_MAIL_FROM = [
    "550 5.4.5 Daily user sending limit exceeded. For more information, see "
    "https://support.google.com/mail/?p=DailyLimitExceeded",
    "530 Authentication required",
    "550 5.3.2 System not accepting network messages",
    "554 Transaction failed",
]
ACCOUNT_AT_MAIL_FROM_IDS = ["gmail-5.4.5-quota", "530", "5.3.2", "bare-554"]


@pytest.mark.parametrize("reply", ACCOUNT_AT_MAIL_FROM, ids=ACCOUNT_AT_MAIL_FROM_IDS)
def test_an_account_refusal_at_mail_from_is_the_accounts(smtp, relay, reply) -> None:
    relay.replies["MAIL"] = reply
    error = _refusal(smtp)
    assert isinstance(error, ConfigurationError), error
    assert error.code == "sending_not_allowed"
    assert error.provider_code == reply[:3]


@pytest.mark.parametrize("reply", ACCOUNT_AT_MAIL_FROM, ids=ACCOUNT_AT_MAIL_FROM_IDS)
def test_an_account_refusal_at_mail_from_fails_over(smtp, relay, reply) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    relay.replies["MAIL"] = reply
    status, message = delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup


@pytest.mark.parametrize(
    "reply",
    [
        "552 5.3.4 Message size exceeds fixed limit",
        "555 5.5.4 Unsupported option: BODY=8BITMIME",
    ],
    ids=["5.3.4-size", "5.5.4-parameter"],
)
def test_the_messages_size_or_parameter_at_mail_from_stays_the_messages(
    smtp, relay, reply
) -> None:
    relay.replies["MAIL"] = reply
    error = _refusal(smtp)
    assert isinstance(error, Rejected), error
    assert error.code == "message_rejected"


OUR_SETUP_AT_RCPT = [
    (
        "550 5.7.23 <ada@example.com>: Recipient address rejected: Message "
        "rejected due to: SPF fail - not authorized. Please see "
        "http://www.openspf.net/Why?s=mfrom;id=shop@example.com;"
        "ip=203.0.113.7;r=<UNKNOWN>",
        "sending_not_allowed",
    ),
    (
        "550 5.7.1 <ada@example.com>: Recipient address rejected: Message "
        "rejected due to: SPF fail - not authorized.",
        "sending_not_allowed",
    ),
    (
        "554 5.7.1 <mail.shop.example[203.0.113.7]>: Client host rejected: "
        "Access denied",
        "sending_not_allowed",
    ),
    (
        "550 5.7.1 Client host rejected: cannot find your hostname, [203.0.113.7]",
        "sending_not_allowed",
    ),
    (
        "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
        "sending_not_allowed",
    ),
    (
        "550 5.7.1 [203.0.113.7] Our system has detected an unusual rate of "
        "unsolicited mail originating from your IP address. To protect our "
        "users from spam, mail sent from your IP address has been blocked.",
        "sending_blocked",
    ),
]
OUR_SETUP_AT_RCPT_IDS = [
    "5.7.23-spf",
    "5.7.1-spf",
    "client-access",
    "client-ptr",
    "helo",
    "gmail-ip",
]


@pytest.mark.parametrize(
    ("reply", "code"), OUR_SETUP_AT_RCPT, ids=OUR_SETUP_AT_RCPT_IDS
)
def test_our_setup_refused_at_rcpt_does_not_blame_the_customer(
    smtp, relay, reply, code
) -> None:
    relay.replies["RCPT"] = reply
    error = _refusal(smtp)
    assert isinstance(error, ConfigurationError), error
    assert error.code == code
    assert CUSTOMER not in error.message


@pytest.mark.parametrize(
    ("reply", "code"), OUR_SETUP_AT_RCPT, ids=OUR_SETUP_AT_RCPT_IDS
)
def test_our_setup_refused_at_rcpt_fails_over(smtp, relay, reply, code) -> None:
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    relay.replies["RCPT"] = reply
    status, message = delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("to", "reply"),
    [
        (
            CUSTOMER,
            "550 5.1.1 <ada@example.com>: Recipient address rejected: User "
            "unknown in virtual mailbox table",
        ),
        # The recipient's own server refusing mail to that address.
        (
            CUSTOMER,
            "550 5.7.1 <ada@example.com>: Recipient address rejected: Access denied",
        ),
        # The words are the recipient's, not the relay's.
        (
            "spf.fail@example.com",
            "550 5.1.1 <spf.fail@example.com>: Recipient address rejected",
        ),
        (
            "client.host.rejected@example.com",
            "550 5.1.1 client.host.rejected@example.com: no such user",
        ),
    ],
    ids=["unknown", "recipient-policy", "quoted-spf", "unquoted-client-host"],
)
def test_a_refused_recipient_is_still_the_recipients(smtp, relay, to, reply) -> None:
    relay.replies["RCPT"] = reply
    error = _refusal(smtp, to=to)
    assert isinstance(error, Rejected) and not isinstance(error, ConfigurationError)
    assert error.code == "invalid_recipient"


OUR_SETUP_AFTER_DATA = [
    (
        "550 5.7.26 Unauthenticated email from shop.example is not accepted due "
        "to domain's DMARC policy. Please contact the administrator of "
        "shop.example domain if this was a legitimate mail.",
        "sending_not_allowed",
    ),
    (
        "550 5.7.509 Access denied, sending domain shop.example does not pass "
        "DMARC verification and has a DMARC policy of reject.",
        "sending_not_allowed",
    ),
    (
        "550 5.7.27 This message was blocked because it didn't pass SPF "
        "authentication.",
        "sending_not_allowed",
    ),
    (
        "550 5.7.1 [203.0.113.7] Our system has detected an unusual rate of "
        "unsolicited mail originating from your IP address.",
        "sending_blocked",
    ),
]


@pytest.mark.parametrize(
    ("reply", "code"),
    OUR_SETUP_AFTER_DATA,
    ids=["gmail-5.7.26", "ms-5.7.509", "gmail-5.7.27", "gmail-ip"],
)
def test_our_authentication_or_ip_refused_after_data_fails_over(
    smtp, relay, reply, code
) -> None:
    relay.replies["DATA"] = reply
    error = _refusal(smtp)
    assert isinstance(error, ConfigurationError), error
    assert error.code == code
    backup = ProviderAccountFactory(kind="email", slug="mail-backup", priority=2)
    status, message = delivered()
    assert status == EmailStatus.SENT
    assert message.account == backup


@pytest.mark.parametrize(
    "reply",
    [
        "554 5.7.1 Rejected: a URL in it is listed on Spamhaus",
        "550 5.7.1 Our system has detected that this message is likely "
        "unsolicited mail. To reduce the amount of spam sent to Gmail, this "
        "message has been blocked.",
    ],
    ids=["listed-link", "gmail-content"],
)
def test_a_content_refusal_after_data_stays_the_messages(smtp, relay, reply) -> None:
    relay.replies["DATA"] = reply
    error = _refusal(smtp)
    assert isinstance(error, Rejected) and not isinstance(error, ConfigurationError)
    assert error.code == "message_rejected"


GMAIL_MULTILINE = [
    "550-5.7.26 This mail is unauthenticated, which poses a security risk to the\r\n"
    "550-5.7.26 sender and Gmail users, and has been blocked. The sender must\r\n"
    "550-5.7.26 authenticate with at least one of SPF or DKIM. For this message,\r\n"
    "550 5.7.26 DKIM checks did not pass. a1si123 - gsmtp",
    "550-5.7.1 [203.0.113.7] Our system has detected an unusual rate of\r\n"
    "550-5.7.1 unsolicited mail originating from your IP address. To protect our\r\n"
    "550-5.7.1 users from spam, mail sent from your IP address has been blocked.\r\n"
    "550 5.7.1 a1si123 - gsmtp",
]


@pytest.mark.parametrize("reply", GMAIL_MULTILINE, ids=["5.7.26", "ip"])
def test_gmails_multiline_replies_after_data_are_our_setup(smtp, relay, reply) -> None:
    relay.replies["DATA"] = reply
    error = _refusal(smtp)
    assert isinstance(error, ConfigurationError), error


@pytest.mark.parametrize(
    ("to", "reply"),
    [
        ("ada@dmarc-reports.example", "550 5.1.2 Host dmarc-reports.example not found"),
        ("ada@spf.example", "550 5.1.1 User unknown in domain spf.example"),
    ],
    ids=["dmarc-domain", "spf-domain"],
)
def test_the_recipients_domain_is_not_the_relays_words(smtp, relay, to, reply) -> None:
    relay.replies["RCPT"] = reply
    error = _refusal(smtp, to=to)
    assert isinstance(error, Rejected) and not isinstance(error, ConfigurationError)
    assert error.code == "invalid_recipient"
