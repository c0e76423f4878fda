"""Contract harness for Amazon SES (anymail's SES backend, boto3 underneath).
API answers through botocore's Stubber on the account's boto3 client;
transport failures are botocore's own exceptions raised where its HTTP layer
would raise them (``before-send``); the same failures over real sockets are
in tests/notifications/providers/test_amazon_ses.py. Events are SNS messages
(tests/fixtures/amazon_ses/, README there) signed with a key and certificate
generated in tests/notifications/signing_keys.py; the certificate is served
at its SNS URL through ``rsps``."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore import exceptions as boto
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from integrations import registry
from integrations.models import ProviderAccount
from notifications.providers.base import BounceType, EmailEventType, OutboundEmail
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import EmailWebhook, OutOfOrder, sample_email
from tests.notifications.signing_keys import (
    SNS_CERT_URL,
    sns_body,
    sns_certificate_pem,
)

PROVIDER = "amazon_ses"
NOT_APPLICABLE = {
    "webhook_batch": "SNS posts one message per request",
}
FIXTURES = Path(__file__).parents[2] / "fixtures" / "amazon_ses"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider=PROVIDER,
        credentials={
            # Unique per account: each gets a boto3 client of its own.
            "access_key_id": f"AKIA{uuid.uuid4().hex[:16].upper()}",
            "secret_access_key": "test-secret-access-key",
        },
        settings={"region": "us-east-1", "sns_topic_arns": TOPIC},
    )


def ses_client(account: ProviderAccount) -> Any:
    return registry.get_adapter(account).ses_client()


def stub(account: ProviderAccount) -> Stubber:
    stubber = Stubber(ses_client(account))
    stubber.activate()
    return stubber


def _error(account, code: str, status: int, message: str = "") -> OutboundEmail:
    stub(account).add_client_error(
        "send_email",
        service_error_code=code,
        service_message=message or code,
        http_status_code=status,
    )
    return sample_email()


def _before_send(account, handler) -> OutboundEmail:
    ses_client(account).meta.events.register("before-send.sesv2.SendEmail", handler)
    return sample_email()


def accepted(rsps, account) -> OutboundEmail:
    stub(account).add_response("send_email", load("api.json")["send_ok"])
    return sample_email()


def invalid_recipient(rsps, account) -> OutboundEmail:
    # SES's wording (Developer Guide, "Amazon SES email sending errors"): a
    # sandbox account names the unverified recipient.
    message = "Email address is not verified. The following identities failed "
    message += "the check in region US-EAST-1: invalid@invalid"
    _error(account, "MessageRejected", 400, message)
    return sample_email(to="invalid@invalid")


def unauthorized_401(rsps, account) -> OutboundEmail:
    return _error(account, "UnrecognizedClientException", 403)


def rate_limited_429(rsps, account) -> OutboundEmail:
    return _error(account, "TooManyRequestsException", 429)


def server_error_500(rsps, account) -> OutboundEmail:
    return _error(account, "InternalFailure", 500)


def read_timeout(rsps, account) -> OutboundEmail:
    def hang_up(request, **kwargs):
        raise boto.ReadTimeoutError(endpoint_url=request.url)

    return _before_send(account, hang_up)


def connection_refused(rsps, account) -> OutboundEmail:
    def refuse(request, **kwargs):
        raise boto.EndpointConnectionError(endpoint_url=request.url)

    return _before_send(account, refuse)


class _Raw:
    """What botocore reads an HTTP body from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def malformed_json(rsps, account) -> OutboundEmail:
    def cut_off(request, **kwargs):
        headers = {"Content-Type": "application/json"}
        return AWSResponse(request.url, 200, headers, _Raw(b'{"MessageId": "EXA'))

    return _before_send(account, cut_off)


def notification(
    rsps,
    ses: dict[str, Any],
    *,
    sent: datetime | None = None,
    **expected: Any,
) -> EmailWebhook:
    rsps.get(SNS_CERT_URL, body=sns_certificate_pem())
    stamp = (sent or datetime.now(UTC)).isoformat(timespec="milliseconds")
    fields = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(ses),
        "Timestamp": stamp.replace("+00:00", "Z"),
    }
    body = sns_body(fields)
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
    }
    return EmailWebhook(body=body, headers=headers, **expected)


def event(name: str) -> dict[str, Any]:
    return load("ses_events.json")[name]


def webhook_valid(rsps, account) -> EmailWebhook:
    return notification(
        rsps,
        event("bounce"),
        event=EmailEventType.BOUNCED,
        provider_message_id="00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        recipient="jane@example.com",
        bounce_type=BounceType.HARD,
    )


def webhook_forged(rsps, account) -> EmailWebhook:
    hook = notification(rsps, event("delivery"))
    forged = hook.body.replace(b"Delivery", b"Complaint", 1)
    assert forged != hook.body
    return EmailWebhook(body=forged, headers=hook.headers)


def webhook_stale(rsps, account) -> EmailWebhook:
    sent = datetime.now(UTC) - timedelta(hours=2)
    return notification(rsps, event("delivery"), sent=sent)


def webhook_out_of_order(rsps, account) -> OutOfOrder:
    return OutOfOrder(
        first=notification(rsps, event("open"), event=EmailEventType.OPENED),
        second=notification(rsps, event("delivery"), event=EmailEventType.DELIVERED),
    )
