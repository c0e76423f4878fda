"""Amazon SES events over Amazon SNS: the webhook side of ``AmazonSesAdapter``.

An SNS HTTPS subscription posts JSON messages signed with SNS's certificate
(``sns_signature``). Verification: the topic is on the account's allow-list,
the certificate URL is an SNS host over HTTPS, the certificate (fetched
through the account's ProviderClient, cached in the shared cache) verifies the
signature, and the message is not older than the account's tolerance. A
``SubscriptionConfirmation`` is stored like any event and confirmed by its
handler (a GET of its ``SubscribeURL``, an SNS host too). Notifications carry
an SES event (configuration-set ``eventType`` or legacy ``notificationType``).
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
"""

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from integrations import cache_clock, registry
from integrations.client import CallContext, client_for
from integrations.errors import ProviderError, Unknown
from integrations.providers.base import ConfigField, SignedRequest
from integrations.webhooks.messages import (
    WebhookMessage,
    iso_time,
    json_object,
    signature_text,
)
from integrations.webhooks.signing import check_tolerance
from integrations.webhooks.verification import (
    StoredBodyNotReadable,
    WebhookVerificationError,
)
from notifications.providers.base import (
    MESSAGE_ID_HEADER,
    BounceType,
    EmailEventRecord,
    EmailEventType,
    address_domain,
    email_error_map,
)
from notifications.providers.email_types import MalformedEvent, event_text
from notifications.providers.sns_signature import (
    SnsMessage,
    check_sns_url,
    check_topic,
    load_certificate,
    parse_sns_message,
    verify_sns_signature,
)

if TYPE_CHECKING:
    from integrations.models import WebhookEvent

logger = logging.getLogger(__name__)

CONFIRMATION = "sns.SubscriptionConfirmation"
_CERT_CACHE_KEY = "sns-signing-cert:{digest}"
_CERT_CACHE_SECONDS = 24 * 3600
_MAX_CERT_BYTES = 64 * 1024
# SES event -> (our type, the key of its detail object, its recipients list).
_EVENTS: Mapping[str, tuple[EmailEventType, str, str]] = {
    "Delivery": (EmailEventType.DELIVERED, "delivery", "recipients"),
    "Bounce": (EmailEventType.BOUNCED, "bounce", "bouncedRecipients"),
    "Complaint": (EmailEventType.COMPLAINED, "complaint", "complainedRecipients"),
    "DeliveryDelay": (EmailEventType.DEFERRED, "deliveryDelay", "delayedRecipients"),
    "Reject": (EmailEventType.REJECTED, "reject", ""),
    "Open": (EmailEventType.OPENED, "open", ""),
    "Click": (EmailEventType.CLICKED, "click", ""),
}
_DETAILS = (
    "bounceType",
    "bounceSubType",
    "complaintFeedbackType",
    "delayType",
    "reason",
    "smtpResponse",
    "link",
    "userAgent",
)


class SesEventsMixin:
    """SNS verification and SES event parsing for the SES adapter."""

    sns_settings_fields = (
        ConfigField(
            "sns_topic_arns",
            "Allowed SNS topic ARNs",
            type="text",
            required=False,
            help_text="One per line (or comma-separated): the topics of the "
            "configuration set's event destination. Without one every webhook "
            "is refused.",
        ),
        ConfigField(
            "sns_tolerance_seconds",
            "Oldest SNS message accepted (seconds)",
            type="int",
            required=False,
            default=3600,
            min_value=60,
            help_text="SNS retries a delivery for up to an hour by default.",
        ),
    )
    # The allow-list stands in for the secret: without one nothing passes.
    webhook_signing_credential = "sns_topic_arns"
    webhook_signature_header = ""

    def check_webhook_signature(self, request: SignedRequest) -> SnsMessage:
        # Found in any encoding, so a forged message is refused as forged;
        # the encoding is checked once it passed (BaseAdapter.verify_webhook).
        message = parse_sns_message(signature_text(request.body))
        check_topic(message, request.secret.replace(",", "\n").split())
        check_sns_url(message.signing_cert_url, param="SigningCertURL", pem=True)
        if message.type != "Notification":
            check_sns_url(message.subscribe_url, param="SubscribeURL")
        certificate = load_certificate(
            self.sns_certificate(message.signing_cert_url), now=timezone.now()
        )
        verify_sns_signature(message, certificate)
        if message.timestamp is None:
            raise WebhookVerificationError(
                "The Amazon SNS message has no readable Timestamp.",
                code=WebhookVerificationError.MALFORMED,
                param="Timestamp",
            )
        self.check_sns_time(message.timestamp)
        return message

    def check_sns_time(self, sent_at: datetime) -> None:
        check_tolerance(
            sent_at.timestamp(),
            tolerance=float(self.setting("sns_tolerance_seconds")),
            param="Timestamp",
        )

    def sns_certificate(self, url: str) -> bytes:
        """The PEM at ``url`` (an SNS host, checked by the caller), from the
        shared cache or fetched once through the account's client."""
        key = _CERT_CACHE_KEY.format(digest=hashlib.sha256(url.encode()).hexdigest())
        cached = _cache_call(cache.get, key)
        if isinstance(cached, bytes):
            return cached

        def fetch(ctx: CallContext) -> bytes:
            response = client_for(self.account).session.get(url)
            error = email_error_map(response)
            if error is not None:
                raise error
            if len(response.content) > _MAX_CERT_BYTES:
                raise Unknown("the certificate is too large", code="malformed_response")
            return response.content

        pem = self.email_call("sns_certificate", fetch, idempotent=True)
        _cache_call(cache.set, key, pem, timeout=_CERT_CACHE_SECONDS)
        return pem

    def webhook_stored_verified(self, request: SignedRequest) -> SnsMessage:
        # The envelope is the body itself: no header is needed. Its topic is
        # checked again: one taken off the allow-list since is not read.
        message = parse_sns_message(request.body)
        try:
            # The allow-list stands in for the secret (none: nothing passes).
            allowed = self.webhook_secret()  # type: ignore[attr-defined]
            check_topic(message, allowed.replace(",", "\n").split())
        except WebhookVerificationError:
            raise StoredBodyNotReadable(
                "its SNS topic is not on the account's allow-list now"
            ) from None
        return message

    def webhook_message(
        self, request: SignedRequest, verified: SnsMessage
    ) -> WebhookMessage:
        sns = {
            "Type": verified.type,
            "MessageId": verified.message_id,
            "TopicArn": verified.topic_arn,
            "Timestamp": verified.fields.get("Timestamp"),
        }
        if verified.type != "Notification":
            sns["SubscribeURL"] = verified.subscribe_url
            return WebhookMessage.build(
                event_type=f"sns.{verified.type}",
                dedupe_key=verified.message_id,
                payload={"sns": sns},
                occurred_at=verified.timestamp,
            )
        ses = json_object(verified.message.encode(), what="an SES event")
        kind = ses.get("eventType") or ses.get("notificationType") or "Notification"
        return WebhookMessage.build(
            event_type=str(kind),
            dedupe_key=verified.message_id,
            payload={"sns": sns, "ses": ses},
            occurred_at=verified.timestamp,
        )

    def webhook_handler(self, message_event_type: str) -> str | None:
        if message_event_type == CONFIRMATION:
            return "notifications.providers.ses_events.sns_subscription_confirm"
        return super().webhook_handler(message_event_type)  # type: ignore[misc]

    def confirm_subscription(self, subscribe_url: str) -> None:
        """Confirm an SNS subscription (a GET of its SubscribeURL)."""
        check_sns_url(subscribe_url, param="SubscribeURL")

        def confirm(ctx: CallContext) -> requests.Response:
            response = client_for(self.account).session.get(subscribe_url)
            error = email_error_map(response)
            if error is not None:
                raise error
            return response

        self.email_call("sns_confirm_subscription", confirm, idempotent=True)
        logger.info("sns subscription confirmed", extra={"account": self.account.slug})

    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        ses = message.payload.get("ses")
        if not isinstance(ses, dict):
            return []  # subscription (un)confirmations
        kind = ses.get("eventType") or ses.get("notificationType")
        if not isinstance(kind, str):
            raise MalformedEvent(
                "The SES event has no eventType (or notificationType)."
            )
        found = _EVENTS.get(kind)
        if found is None:
            return []  # Send, Rendering Failure, Subscription
        event_type, detail_key, recipients_key = found
        mail, detail = _object(ses.get("mail")), _object(ses.get(detail_key))
        occurred = (
            iso_time(detail.get("timestamp"))
            or message.occurred_at  # when SNS published it
            or iso_time(mail.get("timestamp"))
        )
        if occurred is None:
            return []
        recipients = _recipients(mail, detail, recipients_key)
        if not recipients:
            # Its recipients are what an SES event of these kinds is about.
            raise MalformedEvent(f"The SES {kind} event names no recipient.")
        return [
            EmailEventRecord(
                type=event_type,
                occurred_at=occurred,
                recipient=recipient,
                provider_message_id=event_text(mail.get("messageId")),
                message_id=_our_message_id(mail),
                bounce_type=_bounce_type(detail) if kind == "Bounce" else None,
                details={**_details(detail), **extra},
                # The address the message was sent from (SES's ``source``).
                sender_domain=address_domain(mail.get("source")),
            )
            for recipient, extra in recipients
        ]


def sns_subscription_confirm(event: "WebhookEvent") -> None:
    """Webhook handler: confirm the subscription an SNS message asks for."""
    sns = (event.payload or {}).get("sns") or {}
    adapter = registry.get_adapter(event.account)
    if not isinstance(adapter, SesEventsMixin):
        raise ProviderError("not an Amazon SES account", code="wrong_provider")
    adapter.confirm_subscription(str(sns.get("SubscribeURL", "")))


def _cache_call(method: Any, *args: Any, **kwargs: Any) -> Any:
    # The cache only saves fetches: without it the certificate is fetched
    # every time, and verification still holds. Redis obeys its outage
    # record (one timeout and warning per outage, not per message).
    try:
        return cache_clock.redis_outage_guard(method, *args, **kwargs)
    except RedisError:
        return None
    except Exception:
        logger.warning("sns certificate cache unavailable", exc_info=True)
        return None


def _recipients(
    mail: Mapping[str, Any], detail: Mapping[str, Any], key: str
) -> list[tuple[str, dict[str, Any]]]:
    if not key:
        # Reject, Open and Click concern the whole message.
        addresses = map(event_text, _list(mail.get("destination")))
        return [(address, {}) for address in addresses if address]
    found = []
    for entry in _list(detail.get(key)):
        if isinstance(entry, str) and entry:
            found.append((entry, {}))
        elif isinstance(entry, dict) and event_text(entry.get("emailAddress")):
            extra = {k: entry[k] for k in ("status", "diagnosticCode") if entry.get(k)}
            found.append((entry["emailAddress"], extra))
    return found


def _bounce_type(detail: Mapping[str, Any]) -> BounceType:
    # Transient and Undetermined bounces may succeed later: nothing suppressed.
    if detail.get("bounceType") == "Permanent":
        return BounceType.HARD
    return BounceType.SOFT


def _details(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {k: detail[k] for k in _DETAILS if detail.get(k) not in (None, "")}


def _our_message_id(mail: Mapping[str, Any]) -> str:
    for header in _list(mail.get("headers")):
        if isinstance(header, dict) and header.get("name") == MESSAGE_ID_HEADER:
            return event_text(header.get("value"))
    return ""


# SES's event schema makes these parts objects and lists; anything else in a
# signed message reads as absent rather than failing the event (a string
# would otherwise be read a character at a time).
def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
