"""A message's whole life with a real provider adapter: sent by the
notifications service over a local fake provider, then the provider's own
signed webhooks through the intake and the email handler: SendGrid's
multi-event batch (delivered, opened) and a hard bounce over Amazon SNS that
suppresses the address."""

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client

from integrations.models import ProviderAccount
from integrations.testing.faultserver import FaultServer, respond
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.providers.amazon_ses import AmazonSesAdapter
from notifications.providers.sendgrid import SendGridAdapter
from notifications.providers.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from notifications.services import email_message_create
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_amazon_ses import TOPIC
from tests.notifications.contract.harness_amazon_ses import event as ses_event
from tests.notifications.contract.harness_sendgrid import event as sendgrid_event
from tests.notifications.providers.conftest import fast
from tests.notifications.signing_keys import (
    sendgrid_public_key_text,
    sendgrid_sign,
    sns_body,
    sns_certificate_pem,
)

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


def _send(capture, to: str) -> EmailMessage:
    with capture(execute=True):
        message = email_message_create(
            to=to, template="order_confirmation", context=ORDER
        )
    message.refresh_from_db()
    return message


@pytest.fixture
def sendgrid(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    url = fault.url + "/v3/"
    monkeypatch.setattr(SendGridAdapter, "api_urls", {"test": url, "live": url})
    fault.route("POST", "/v3/mail/send", respond(202, body=b""))
    return ProviderAccountFactory(
        kind="email",
        provider="sendgrid",
        credentials={
            "api_key": "SG.key",
            "webhook_verification_key": sendgrid_public_key_text(),
        },
        settings=fast(),
    )


def test_sendgrid_message_sent_then_delivered_and_opened(
    sendgrid, fault, django_capture_on_commit_callbacks
) -> None:
    message = _send(django_capture_on_commit_callbacks, "ada@example.com")
    assert message.status == EmailStatus.SENT
    assert message.account == sendgrid
    sent = fault.requests_for("POST", "/v3/mail/send")[0].json()
    anymail_id = sent["personalizations"][0]["custom_args"]["anymail_id"]
    assert message.provider_message_id == anymail_id
    now = int(time.time())
    events = [
        sendgrid_event(
            name,
            anymail_id=anymail_id,
            message_id=message.public_id,
            email="ada@example.com",
            timestamp=now + offset,
            sg_event_id=uuid.uuid4().hex,
        )
        for name, offset in (("delivered", 1), ("open", 2))
    ]
    body = json.dumps(events).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            f"/webhooks/{sendgrid.slug}/",
            data=body,
            content_type="application/json",
            headers={
                TIMESTAMP_HEADER: str(now),
                SIGNATURE_HEADER: sendgrid_sign(body, str(now)),
            },
        )
    assert response.json()["stored"] == 2
    message.refresh_from_db()
    assert message.status == EmailStatus.DELIVERED
    kinds = list(message.events.order_by("occurred_at").values_list("type", flat=True))
    assert kinds[-2:] == ["delivered", "opened"]


def test_ses_hard_bounce_over_sns_suppresses_the_address(
    fault, rsps, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    monkeypatch.setattr(
        AmazonSesAdapter, "endpoint_urls", {"test": fault.url, "live": fault.url}
    )
    ses_id = "0100018c-ses-message-id-000000"
    fault.route(
        "POST", "/v2/email/outbound-emails", respond(200, json={"MessageId": ses_id})
    )
    account = ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={"access_key_id": "AKIAE2E", "secret_access_key": "secret"},
        settings=fast(region="us-east-1", sns_topic_arns=TOPIC),
    )
    message = _send(django_capture_on_commit_callbacks, "jane@example.com")
    assert (message.account, message.provider_message_id) == (account, ses_id)

    bounce = ses_event("bounce")
    bounce["mail"]["messageId"] = ses_id
    bounce["mail"]["headers"] = []  # found by SES's message id alone
    cert_url = f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{uuid.uuid4().hex}.pem"
    rsps.get(cert_url, body=sns_certificate_pem())
    fields = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": json.dumps(bounce),
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            f"/webhooks/{account.slug}/",
            data=sns_body(fields, cert_url=cert_url),
            content_type="text/plain",
        )
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == EmailStatus.BOUNCED
    assert Suppression.objects.filter(address="jane@example.com").exists()


def test_sendgrid_accepting_an_idn_address_is_recorded_sent(
    sendgrid, fault, django_capture_on_commit_callbacks
) -> None:
    # SendGrid is given the domain as punycode; anymail keyed its generated
    # id by that and looked it up by the Unicode address: no id, "unknown".
    message = _send(django_capture_on_commit_callbacks, "ada@bücher.de")
    assert len(fault.requests_for("POST", "/v3/mail/send")) == 1
    assert message.status == EmailStatus.SENT, (message.status, message.last_error)
    sent = fault.requests_for("POST", "/v3/mail/send")[0].json()
    (personalization,) = sent["personalizations"]
    assert personalization["to"] == [{"email": "ada@xn--bcher-kva.de"}]
    assert message.provider_message_id == personalization["custom_args"]["anymail_id"]
    assert message.to_email == "ada@bücher.de"  # ours stays as the shop spells it


def test_an_emoji_domain_is_sent_in_its_idna_2003_form(
    sendgrid, fault, django_capture_on_commit_callbacks
) -> None:
    # IDNA 2008 refuses emoji domains (i❤.ws was registered under 2003):
    # anymail's own encoder made such a send a refused recipient.
    message = _send(django_capture_on_commit_callbacks, "ada@i❤.ws")
    assert message.status == EmailStatus.SENT, (message.status, message.last_error)
    sent = fault.requests_for("POST", "/v3/mail/send")[0].json()
    (personalization,) = sent["personalizations"]
    assert personalization["to"] == [{"email": "ada@xn--i-7iq.ws"}]
    assert message.provider_message_id == personalization["custom_args"]["anymail_id"]


def test_hard_bounce_naming_the_punycode_domain_suppresses_the_address(
    sendgrid, fault, django_capture_on_commit_callbacks
) -> None:
    # Anymail sends an internationalised domain as punycode, so SendGrid's
    # bounce names that form; the storefront spells it in Unicode.
    to = "ada@bücher.de"
    message = _send(django_capture_on_commit_callbacks, to)
    (request,) = fault.requests_for("POST", "/v3/mail/send")
    body = request.json()
    sent_to = body["personalizations"][0]["to"][0]["email"]
    assert sent_to == "ada@xn--bcher-kva.de"
    bounce = sendgrid_event(
        "bounce",
        email=sent_to,
        anymail_id=body["personalizations"][0]["custom_args"]["anymail_id"],
        message_id=message.public_id,
        timestamp=int(time.time()),
    )
    raw = json.dumps([bounce]).encode()
    stamp = str(int(time.time()))
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            f"/webhooks/{sendgrid.slug}/",
            data=raw,
            content_type="application/json",
            headers={
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sendgrid_sign(raw, stamp),
            },
        )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == EmailStatus.BOUNCED
    (suppression,) = Suppression.objects.all()
    assert suppression.address == "ada@xn--bcher-kva.de"
    for spelling in (to, "ADA@BÜCHER.DE", sent_to):
        nxt = email_message_create(
            to=spelling, template="order_confirmation", context=ORDER
        )
        assert nxt.status == EmailStatus.SUPPRESSED, spelling
