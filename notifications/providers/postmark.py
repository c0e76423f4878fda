"""Postmark (``POST /email``) through anymail's Postmark backend, and
Postmark's webhooks. Postmark signs nothing: the webhook URL entered in
Postmark carries basic-auth credentials (``https://user:pass@host/...``),
which arrive in the ``Authorization`` header and are compared in constant
time. It sends no time either, so replays are caught by the dedupe key.
https://postmarkapp.com/developer/webhooks/webhooks-overview
"""

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

import requests
from anymail.exceptions import AnymailError

from integrations.errors import NotProcessed, ProviderError
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.webhooks.messages import (
    WebhookMessage,
    iso_time,
    json_object,
    received_time,
)
from integrations.webhooks.verification import WebhookVerificationError
from notifications.providers.base import (
    SENDING_DOMAINS_FIELD,
    BounceType,
    EmailCategory,
    EmailEventRecord,
    EmailEventType,
    OutboundEmail,
    RecipientStopped,
    address_domain,
    sender_not_verified,
)
from notifications.providers.email_types import (
    MalformedEvent,
    UndatedEvent,
    event_text,
    stops_address,
    unreadable_time,
)
from notifications.providers.esp import AnymailAdapter

_RECORDS: Mapping[str, EmailEventType] = {
    "Delivery": EmailEventType.DELIVERED,
    "Open": EmailEventType.OPENED,
    "Click": EmailEventType.CLICKED,
    "SpamComplaint": EmailEventType.COMPLAINED,
}
# Bounce ``Type``s, from the Bounce API's type table (postmarkapp.com/
# developer/api/bounce-api#bounce-types): what each means for the message and
# the address. The type is about the message; whether Postmark deactivated
# the address (it refuses later sends to it on the stream) is the record's
# ``Inactive``, whatever the type (_stream_stop). AutoResponder, Subscribe,
# AddressChange, ChallengeVerification, OpenRelayTest, Unconfirmed and
# InboundError are not about delivery: nothing, unless left ``Inactive``.
_BOUNCES: Mapping[str, tuple[EmailEventType, BounceType | None]] = {
    # The mailbox does not exist or the address is not one: suppressed.
    "HardBounce": (EmailEventType.BOUNCED, BounceType.HARD),
    "BadEmailAddress": (EmailEventType.BOUNCED, BounceType.HARD),
    # Temporary, or a report Postmark could not classify: the address stays.
    "SoftBounce": (EmailEventType.BOUNCED, BounceType.SOFT),
    "Unknown": (EmailEventType.BOUNCED, BounceType.SOFT),
    "Transient": (EmailEventType.DEFERRED, None),
    "DnsError": (EmailEventType.DEFERRED, None),
    # The recipient's own stops.
    "SpamComplaint": (EmailEventType.COMPLAINED, None),
    "Unsubscribe": (EmailEventType.UNSUBSCRIBED, None),
    # "The message was delivered, but was either blocked by the user, or
    # classified as spam": recorded, it fails nothing, the address stays.
    "SpamNotification": (EmailEventType.FILTERED, None),
    # Refused for its content or for us as sender (an ISP block, DMARC, a
    # virus filter's notice, not the recipient's complaint), or never sent:
    # this message failed, the address stays mailable.
    "Blocked": (EmailEventType.REJECTED, None),
    "DMARCPolicy": (EmailEventType.REJECTED, None),
    "VirusNotification": (EmailEventType.REJECTED, None),
    "SMTPApiError": (EmailEventType.REJECTED, None),
    "TemplateRenderingFailed": (EmailEventType.REJECTED, None),
}
# SubscriptionChange ``SuppressionReason``s (Postmark's subscription change
# webhook page): why Postmark stopped sending to the address. A recipient's
# unsubscribe is a ManualSuppression of ``Origin`` Recipient; one by the
# Customer (API, UI) or Postmark's Admin stops all mail.
_SUBSCRIPTION_REASONS: Mapping[str, tuple[EmailEventType, BounceType | None]] = {
    "HardBounce": (EmailEventType.BOUNCED, BounceType.HARD),
    "SpamComplaint": (EmailEventType.COMPLAINED, None),
    "ManualSuppression": (EmailEventType.MANUALLY_SUPPRESSED, None),
    # Not a documented value (the page's overview names unsubscribes).
    "Unsubscribe": (EmailEventType.UNSUBSCRIBED, None),
}
# Record types that stop all mail to the address whatever the stream.
_STOPS_ALL = frozenset({EmailEventType.COMPLAINED, EmailEventType.MANUALLY_SUPPRESSED})
_TIMES = ("DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt")
# 422 ErrorCodes that concern this server, not the message: another account
# may send it (405: out of credits, 412: account pending approval).
_ACCOUNT_CODES = frozenset({405, 412})
# Postmark's API error codes for our From: 400 "Sender Signature not found",
# 401 "Sender signature not confirmed". Our account's setup, not the message.
_SENDER_CODES = frozenset({400, 401})
# "Invalid email request"; newer answers name an unverified From under it:
# "Invalid 'From' address: '...' is not a verified sender signature."
_INVALID_REQUEST = 300
# "You tried to send to recipient(s) that have been marked as inactive ...
# a hard bounce, a spam complaint, or a manual suppression": the address is
# on the stream's suppression list.
_INACTIVE_RECIPIENT = 406
AUTH_HEADER = "Authorization"


class PostmarkAdapter(AnymailAdapter):
    code = "postmark"
    display_name = "Postmark"
    backend_path = "anymail.backends.postmark.EmailBackend"
    api_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://api.postmarkapp.com/",
        "live": "https://api.postmarkapp.com/",
    }
    max_tags = 1  # Postmark takes one Tag per message
    credential_fields = (
        ConfigField("server_token", "Server API token"),
        ConfigField(
            "webhook_username",
            "Webhook user name",
            required=False,
            help_text="The user name in the webhook URL you give Postmark.",
        ),
        ConfigField(
            "webhook_password",
            "Webhook password",
            required=False,
            help_text="The password in that URL. Without it every webhook is refused.",
        ),
    )
    settings_fields = (
        ConfigField(
            "message_stream",
            "Transactional message stream",
            required=False,
            default="outbound",
        ),
        ConfigField(
            "broadcast_stream",
            "Broadcast message stream (marketing mail)",
            required=False,
            default="broadcast",
        ),
        SENDING_DOMAINS_FIELD,
    )
    webhook_signing_credential = "webhook_password"
    webhook_signature_header = AUTH_HEADER

    def backend_options(self) -> dict[str, Any]:
        return {
            "server_token": self.credential("server_token"),
            "api_url": self.api_url,
            "message_stream": self.setting("message_stream"),
            "use_bulk_api": False,
            "generate_message_id": False,
        }

    def esp_extra(self, message: OutboundEmail) -> dict[str, Any]:
        # Postmark requires marketing mail on a broadcast stream.
        if message.category == EmailCategory.MARKETING:
            return {"MessageStream": self.setting("broadcast_stream")}
        return {}

    def provider_error(self, exc: AnymailError) -> ProviderError | None:
        response = getattr(exc, "response", None)
        if not isinstance(response, requests.Response):
            return None
        code = _error_code(response)
        if response.status_code == 422 and _unverified_sender(response, code):
            return sender_not_verified(
                "Postmark has no confirmed Sender Signature for our From address",
                provider_code=str(code),
                http_status=422,
            )
        if response.status_code == 422 and code in _ACCOUNT_CODES:
            return NotProcessed(
                "Postmark will not send for this server now",
                code="account_unable_to_send",
                http_status=422,
                provider_code=str(code),
            )
        return None

    def recipient_error(self, exc: AnymailError) -> ProviderError:
        response = getattr(exc, "response", None)
        if not isinstance(response, requests.Response) or not _inactive(response):
            return super().recipient_error(exc)
        data = getattr(getattr(exc, "payload", None), "data", None) or {}
        stream = str(data.get("MessageStream") or self.setting("message_stream"))
        # The stream's list: marketing mail only on the broadcast stream, all
        # mail on the transactional one (as _stream_stop reads its stops).
        broadcast = stream == self.setting("broadcast_stream")
        return RecipientStopped(
            "Postmark has the recipient on the stream's suppression list "
            "(inactive recipient)",
            suppressed_for="unsubscribe" if broadcast else "deactivated",
            stream=stream[:_STREAM_MAX],
            provider_code=str(_INACTIVE_RECIPIENT),
            http_status=response.status_code,
        )

    def health_check(self) -> HealthResult:
        response = self.health_get(
            self.api_url + "server",
            headers={
                "Accept": "application/json",
                "X-Postmark-Server-Token": self.credential("server_token"),
            },
        )
        try:
            name = str(response.json().get("Name", ""))
        except (ValueError, AttributeError):
            name = ""
        return HealthResult(
            ok=True, detail="Postmark server found", extra={"server": name}
        )

    # --- Webhooks ----------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        username = str(self.credentials.get("webhook_username") or "")
        if not username:
            raise WebhookVerificationError(
                "No webhook user name is configured for this account.",
                code=WebhookVerificationError.MISSING_SECRET,
            )
        given = _basic_credentials(request.signature)
        expected = f"{username}:{request.secret}".encode()
        if not hmac.compare_digest(expected, given):
            raise WebhookVerificationError(
                "The webhook credentials do not match.",
                code=WebhookVerificationError.FORGED,
                param=AUTH_HEADER,
            )
        return None

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        payload = json_object(request.body, what="a Postmark event")
        record = payload.get("RecordType")
        if not isinstance(record, str) or not record:
            raise WebhookVerificationError(
                "The Postmark event has no RecordType.",
                code=WebhookVerificationError.MALFORMED,
                param="RecordType",
            )
        return WebhookMessage.build(
            event_type=record,
            dedupe_key=_dedupe_key(record, payload),
            payload=payload,
            occurred_at=_time(payload) or self._received(payload),
        )

    def _received(self, payload: Mapping[str, Any]) -> Any:
        """When we received a record with no readable time that stops its
        address (it must not wait for staff); None for any other."""
        kind, bounce = _kind(payload)
        if kind is None or not (payload.get("Recipient") or payload.get("Email")):
            return None  # a stop naming no address: nothing it could stop
        broadcast = payload.get("MessageStream") == self.setting("broadcast_stream")
        stop = _stream_stop(payload, kind, bounce, broadcast)
        return received_time() if stops_address(kind, bounce, stop) else None

    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        payload = message.payload
        kind, bounce = _kind(payload)
        broadcast = payload.get("MessageStream") == self.setting("broadcast_stream")
        if kind is EmailEventType.MANUALLY_SUPPRESSED and broadcast:
            # Suppression lists are per message stream: staff's stop on the
            # broadcast stream stops marketing mail, not order mail.
            kind = EmailEventType.UNSUBSCRIBED
        if kind is None:
            _check_kind_fields(payload)
            return []  # a record or bounce type not about delivery
        undated = _undated(payload)
        occurred = _time(payload) or message.occurred_at
        if occurred is None:
            raise UndatedEvent(f"The Postmark record has no readable time: {undated}.")
        details = _details(payload)
        if undated:
            details["unreadable_timestamp"] = undated
        metadata = payload.get("Metadata")
        if not isinstance(metadata, dict):
            metadata = {}  # not the documented object: no id of ours in it
        return [
            EmailEventRecord(
                type=kind,
                occurred_at=occurred,
                recipient=event_text(payload.get("Recipient"))
                or event_text(payload.get("Email")),
                # Null for staff's stops and reactivations: no id to match.
                provider_message_id=event_text(payload.get("MessageID")),
                message_id=event_text(metadata.get("message_id")),
                bounce_type=bounce,
                details=details,
                suppressed_for=_stream_stop(payload, kind, bounce, broadcast),
                # Bounces and complaints name the original sender; a
                # subscription change (staff's stop included) names none.
                sender_domain=address_domain(payload.get("From")),
                not_ours=self._stream_not_ours(payload),
                undated=undated,
            )
        ]

    def _stream_not_ours(self, payload: Mapping[str, Any]) -> str:
        # Postmark keeps a suppression list per message stream, and a server
        # shared with another system has that system's streams too: their
        # stops (which name no sender) are not ours to act on, unless the
        # event names a message of ours (docs/providers/email.md, "Shared
        # accounts"). A record naming no stream predates streams: unjudged.
        stream = payload.get("MessageStream")
        ours = {self.setting("message_stream"), self.setting("broadcast_stream")}
        if not isinstance(stream, str) or not stream or stream in ours:
            return ""
        return f"message stream {stream}"


def _basic_credentials(header: str) -> bytes:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise WebhookVerificationError(
            "The webhook must carry basic-auth credentials.",
            code=WebhookVerificationError.FORGED,
            param=AUTH_HEADER,
        )
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            "The webhook credentials are not base64.",
            code=WebhookVerificationError.FORGED,
            param=AUTH_HEADER,
        ) from None


def _kind(
    payload: Mapping[str, Any],
) -> tuple[EmailEventType | None, BounceType | None]:
    record = payload.get("RecordType")
    if record == "Bounce":
        return _bounce(payload)
    if record == "SubscriptionChange":
        return _subscription_change(payload)
    return _RECORDS.get(str(record)), None


def _check_kind_fields(payload: Mapping[str, Any]) -> None:
    """MalformedEvent for a Bounce without its ``Type`` or a subscription
    change without ``SuppressSending``: the field that says what happened."""
    record = payload.get("RecordType")
    if record == "Bounce" and not isinstance(payload.get("Type"), str):
        raise MalformedEvent("The Postmark Bounce record has no Type.")
    if record == "SubscriptionChange" and not isinstance(
        payload.get("SuppressSending"), bool
    ):
        raise MalformedEvent(
            "The Postmark SubscriptionChange record has no SuppressSending."
        )


def _bounce(
    payload: Mapping[str, Any],
) -> tuple[EmailEventType | None, BounceType | None]:
    kind = str(payload.get("Type"))
    if kind == "ManuallyDeactivated":
        # Staff deactivated the address at Postmark, which sends nothing more
        # to it while ``Inactive`` (CanActivate only says it may be lifted).
        # Reactivated already: only this message failed.
        if payload.get("Inactive") is True:
            return EmailEventType.MANUALLY_SUPPRESSED, None
        return EmailEventType.REJECTED, None
    if kind not in _BOUNCES and payload.get("Inactive") is True:
        # A type we do not read (or one Postmark adds), yet Postmark
        # deactivated the address: stopped as the stream's list reaches.
        return EmailEventType.DEACTIVATED, None
    return _BOUNCES.get(kind, (None, None))


def _subscription_change(
    payload: Mapping[str, Any],
) -> tuple[EmailEventType | None, BounceType | None]:
    if payload.get("SuppressSending") is False:
        # Taken off the stream's list (in Postmark's UI or API): what its
        # stop put here is lifted.
        return EmailEventType.REACTIVATED, None
    if payload.get("SuppressSending") is not True:
        return None, None
    reason = str(payload.get("SuppressionReason") or "")
    if reason == "ManualSuppression" and payload.get("Origin") == "Recipient":
        return EmailEventType.UNSUBSCRIBED, None
    # An unknown reason still stopped the address at Postmark: an unsubscribe,
    # whose reach is the stream's (_stream_stop).
    return _SUBSCRIPTION_REASONS.get(reason, (EmailEventType.UNSUBSCRIBED, None))


def _stream_stop(
    payload: Mapping[str, Any],
    kind: EmailEventType,
    bounce: BounceType | None,
    broadcast: bool,
) -> str:
    """``EmailEventRecord.suppressed_for``: what Postmark putting the address
    on the stream's suppression list means here, when the record's type
    alone says less. Postmark refuses every later message on that stream
    (422 ErrorCode 406), so a stop on the transactional stream (or, before
    streams, the server's one list) stops order mail too: the recipient's
    unsubscribe is ``unsubscribe_all``, any other ``deactivated`` (a bounce of
    a type that is no verdict on the mailbox, left ``Inactive``, whatever
    ``CanActivate`` says: that only tells whether it may be reactivated). On
    the broadcast stream it stops marketing mail only. A reactivation names
    the reach of the list it lifted from (``unsubscribe``: marketing only)."""
    if kind is EmailEventType.REACTIVATED:
        return "unsubscribe" if broadcast else ""
    if bounce is BounceType.HARD or kind in _STOPS_ALL:
        return ""  # its type stops all mail already
    record = payload.get("RecordType")
    if record == "Bounce":
        stopped = payload.get("Inactive") is True
    else:
        stopped = record == "SubscriptionChange"  # only stops get this far
    if not stopped:
        return ""
    if broadcast:
        return "unsubscribe"
    if kind is EmailEventType.UNSUBSCRIBED and payload.get("Origin") == "Recipient":
        return "unsubscribe_all"
    return "deactivated"


def _dedupe_key(record: str, payload: Mapping[str, Any]) -> str:
    # Bounces and complaints have Postmark's own id; other records are one
    # per message, recipient and time (a click also per link, a subscription
    # change also per stream and direction).
    if payload.get("ID") is not None:
        return f"{record}:{payload['ID']}"
    parts = [
        record,
        str(payload.get("MessageID", "")),
        str(payload.get("Recipient", "")),
        next((str(payload[t]) for t in _TIMES if payload.get(t)), ""),
        str(payload.get("OriginalLink", "")),
    ]
    if record == "SubscriptionChange":
        # Postmark's lists are per stream, and a stop and its reactivation
        # may share a time: each is its own change.
        parts += [
            str(payload.get("MessageStream", "")),
            str(payload.get("SuppressSending", "")),
        ]
    return ":".join(parts)


def _time(payload: Mapping[str, Any]) -> Any:
    for name in _TIMES:
        found = iso_time(payload.get(name))
        if found is not None:
            return found
    return None


def _undated(payload: Mapping[str, Any]) -> str:
    """The record's unreadable time as it came, named ("BouncedAt: ..."),
    or "missing"; "" when it is readable."""
    if _time(payload) is not None:
        return ""
    name = next((t for t in _TIMES if t in payload), "")
    return f"{name}: {unreadable_time(payload, name)}" if name else "missing"


def _details(payload: Mapping[str, Any]) -> dict[str, Any]:
    details = {
        "reason": payload.get("Description") or payload.get("SuppressionReason"),
        "type": payload.get("Type"),
        "response": payload.get("Details"),
        "url": payload.get("OriginalLink"),
        "useragent": payload.get("UserAgent"),
        # Postmark's verdict on the address, for staff.
        "inactive": payload.get("Inactive"),
        "can_activate": payload.get("CanActivate"),
        # Whose list changed: a subscription change's origin and stream.
        "origin": payload.get("Origin"),
        "message_stream": _stream_name(payload),
    }
    return {k: v for k, v in details.items() if v not in (None, "")}


# Suppression.stream's length: a stream's id is Postmark's (or, on a shared
# server, another system's) to choose, and a stop is stored under it.
_STREAM_MAX = 100


def _stream_name(payload: Mapping[str, Any]) -> str | None:
    # NUL and the like are already replaced when the webhook was stored.
    stream = payload.get("MessageStream")
    return stream[:_STREAM_MAX] if isinstance(stream, str) else stream


def _error_code(response: requests.Response) -> int | None:
    try:
        code = response.json().get("ErrorCode")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def _unverified_sender(response: requests.Response, code: int | None) -> bool:
    if code in _SENDER_CODES:
        return True
    if code != _INVALID_REQUEST:
        return False
    try:
        text = str(response.json().get("Message", "")).lower()
    except (ValueError, AttributeError):
        return False
    return text.startswith("invalid 'from'") and "sender signature" in text


def _inactive(response: requests.Response) -> bool:
    # 406 refuses the send; an OK naming "inactive addresses" (anymail reads
    # it as refused when it names our only recipient) skipped it for the same.
    code = _error_code(response)
    if code == _INACTIVE_RECIPIENT:
        return True
    try:
        text = str(response.json().get("Message", ""))
    except (ValueError, AttributeError):
        return False
    return code == 0 and "inactive addresses" in text.lower()
