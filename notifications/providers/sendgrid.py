"""SendGrid (v3 Mail Send) through anymail's SendGrid backend, and its signed
Event Webhook: one request carries a JSON array of events, each stored and
deduplicated by its ``sg_event_id``.

Anymail no longer tests SendGrid against the live API (its issue 432), so our
own tests cover it (tests/notifications/providers/test_sendgrid.py).
"""

import hashlib
import json
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests
from anymail.exceptions import AnymailError, AnymailNotSupportedWarning

from integrations.errors import ProviderError
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.webhooks.messages import (
    WebhookMessage,
    json_body,
    received_time,
    required_header,
    unix_time,
)
from integrations.webhooks.verification import WebhookVerificationError
from notifications.providers.base import (
    BounceType,
    EmailEventRecord,
    EmailEventType,
    sender_not_verified,
)
from notifications.providers.email_types import (
    MalformedEvent,
    event_text,
    stops_address,
    unreadable_time,
)
from notifications.providers.esp import (
    TOLERANCE_FIELD,
    AnymailAdapter,
    refused_recipient,
)
from notifications.providers.sendgrid_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    load_verification_key,
    verify_sendgrid_signature,
)

# Anymail warns on every SendGrid backend it builds (one per send); we test
# SendGrid ourselves, so the warning says nothing new.
warnings.filterwarnings(
    "ignore",
    message="django-anymail has dropped official support for SendGrid",
    category=AnymailNotSupportedWarning,
)

_EVENTS: Mapping[str, EmailEventType] = {
    "delivered": EmailEventType.DELIVERED,
    "deferred": EmailEventType.DEFERRED,
    "bounce": EmailEventType.BOUNCED,
    "dropped": EmailEventType.REJECTED,
    "spamreport": EmailEventType.COMPLAINED,
    "open": EmailEventType.OPENED,
    "click": EmailEventType.CLICKED,
    "unsubscribe": EmailEventType.UNSUBSCRIBED,
    "group_unsubscribe": EmailEventType.UNSUBSCRIBED,
    # The recipient opted back in to an unsubscribe group: what that
    # group's unsubscribe stopped here is lifted (its list: _group_list).
    "group_resubscribe": EmailEventType.REACTIVATED,
}
# The list a group event is on: the unsubscribe group (``asm_group_id``).
_GROUP_EVENTS = frozenset({"group_unsubscribe", "group_resubscribe"})
# ``dropped`` reasons for an address on one of SendGrid's suppression lists
# (the Event Webhook reference): suppressed here too, for the same reason.
_DROPPED_SUPPRESSED: Mapping[str, str] = {
    "Bounced Address": "hard_bounce",
    "Spam Reporting Address": "complaint",
    "Unsubscribed Address": "unsubscribe",
}
# The event type of a batch's event we cannot read (not an object, no type or
# no ``sg_event_id``): stored so staff see it, failed when processed, while
# the batch's other events are applied.
MALFORMED = "malformed"
# Event fields worth showing staff (never the IP of the reader).
_DETAILS = (
    "reason",
    "status",
    "response",
    "type",
    "bounce_classification",
    "url",
    "useragent",
    "attempt",
)


class SendGridAdapter(AnymailAdapter):
    code = "sendgrid"
    display_name = "SendGrid"
    backend_path = "anymail.backends.sendgrid.EmailBackend"
    api_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://api.sendgrid.com/v3/",
        "live": "https://api.sendgrid.com/v3/",
    }
    credential_fields = (
        ConfigField(
            "api_key", "API key", help_text="SG.... with the Mail Send permission."
        ),
        ConfigField(
            "webhook_verification_key",
            "Event Webhook verification key",
            required=False,
            help_text="The public key SendGrid shows when signed event webhooks "
            "are enabled (base64). Without it every webhook is refused.",
        ),
    )
    settings_fields = (TOLERANCE_FIELD,)
    # provider-specs/email/sendgrid/oai.json, /mail/send: subject minLength 1.
    subject_required = True
    webhook_signing_credential = "webhook_verification_key"
    webhook_signs_body = True  # its signature covers the raw bytes
    webhook_signature_header = SIGNATURE_HEADER

    def backend_options(self) -> dict[str, Any]:
        return {
            "api_key": self.credential("api_key"),
            "api_url": self.api_url,
            # Anymail's per-message id goes in custom_args and comes back in
            # every event as ``anymail_id``: our provider message id.
            "generate_message_id": True,
            "merge_field_format": None,
        }

    def provider_error(self, exc: AnymailError) -> ProviderError | None:
        response = getattr(exc, "response", None)
        if not isinstance(response, requests.Response):
            return None
        errors = _errors(response)
        if response.status_code in (400, 403) and any(map(_unverified_from, errors)):
            # Documented as a 403, reported at 400 too: the body decides.
            return sender_not_verified(
                "SendGrid refused the from address: it does not match a "
                "verified Sender Identity",
                provider_code="from_not_verified",
                http_status=response.status_code,
            )
        if response.status_code != 400:
            return None
        if any(_names_recipient(error) for error in errors):
            return refused_recipient(
                "SendGrid refused the recipient address",
                provider_code="invalid_email",
                http_status=400,
            )
        return None

    def health_check(self) -> HealthResult:
        response = self.health_get(
            self.api_url + "scopes",
            headers={"Authorization": f"Bearer {self.credential('api_key')}"},
        )
        scopes = _scopes(response)
        if "mail.send" not in scopes:
            return HealthResult(
                ok=False,
                detail="the API key may not send mail (no mail.send scope)",
                extra={"scopes": len(scopes)},
            )
        return HealthResult(ok=True, detail="SendGrid API key scopes listed")

    # --- Webhooks: the template verifies once; each event is a message -------

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        timestamp = required_header(request.headers, TIMESTAMP_HEADER)
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise WebhookVerificationError(
                f"The {TIMESTAMP_HEADER} header must be Unix seconds.",
                code=WebhookVerificationError.MALFORMED,
                param=TIMESTAMP_HEADER,
            )
        verify_sendgrid_signature(
            load_verification_key(request.secret),
            timestamp=timestamp,
            body=request.body,
            signature=request.signature,
        )
        # Checked after the signature: only a genuine old request is "stale".
        self.check_webhook_time(float(timestamp), param=TIMESTAMP_HEADER)
        return None

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        """The whole verified request; ``webhook_messages`` splits it."""
        events = json_body(request.body, what="a JSON array of SendGrid events")
        if not isinstance(events, list):
            raise WebhookVerificationError(
                "The webhook body is not a JSON array of SendGrid events.",
                code=WebhookVerificationError.MALFORMED,
            )
        return WebhookMessage.build(
            event_type="batch", dedupe_key="batch", payload={"events": events}
        )

    def webhook_split(self, message: WebhookMessage) -> list[WebhookMessage]:
        # One unreadable event is stored as ``malformed``, not a refusal of
        # the batch: SendGrid retries a refused batch whole for up to a day.
        events = message.payload["events"]
        # An event stopping its address is applied even with no readable
        # time of its own: dated when we received it.
        received = received_time() if any(map(_dated_on_receipt, events)) else None
        return [_event_message(event, received) for event in events]

    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        if message.event_type == MALFORMED:
            # Kept with its error on the webhook row, for staff.
            raise MalformedEvent(str(message.payload.get("error", "")))
        event = message.payload
        if _group_problem(event):
            # Stored before the intake checked the group: never applied.
            raise MalformedEvent(_group_problem(event))
        kind = _EVENTS.get(str(event.get("event", "")))
        occurred = unix_time(event.get("timestamp")) or message.occurred_at
        group = _group_list(event)
        if kind is None or occurred is None:
            return []  # processed: nothing to record
        bounce = None
        if kind is EmailEventType.BOUNCED:
            # "blocked" is the receiving server refusing for now, not the
            # address failing for good: nothing to suppress.
            soft = event.get("type") == "blocked"
            bounce = BounceType.SOFT if soft else BounceType.HARD
        undated = _unreadable_timestamp(event)
        details = _details(event)
        if group:
            details["message_stream"] = group
        if undated:
            details["unreadable_timestamp"] = undated
        return [
            EmailEventRecord(
                type=kind,
                occurred_at=occurred,
                recipient=event_text(event.get("email")),
                provider_message_id=_provider_message_id(event),
                message_id=event_text(event.get("message_id")),
                bounce_type=bounce,
                details=details,
                suppressed_for=_suppressed_for(event),
                undated=undated,
                list_only=kind is EmailEventType.REACTIVATED,
            )
        ]


def _event_message(event: Any, received: datetime | None) -> WebhookMessage:
    problem = _event_problem(event)
    if problem:
        return _malformed_message(event, problem)
    occurred = unix_time(event.get("timestamp"))
    return WebhookMessage.build(
        event_type=event["event"],
        dedupe_key=event["sg_event_id"],
        payload=event,
        occurred_at=occurred or received,
    )


def _event_problem(event: Any) -> str:
    """Why ``event`` cannot be stored as a SendGrid event; "" when it can."""
    if not isinstance(event, dict):
        return "The SendGrid event is not a JSON object."
    for name in ("event", "sg_event_id"):
        value = event.get(name)
        if not isinstance(value, str) or not value:
            return f"The SendGrid event has no '{name}'."
    if _group_problem(event):
        return _group_problem(event)
    if unix_time(event.get("timestamp")) is None and not _dated_on_receipt(event):
        # Applied without a time, it could not be ordered against the
        # message's other events, and nothing waits on it: kept for staff.
        return "The SendGrid event has no readable 'timestamp' (Unix seconds)."
    return ""


def _dated_on_receipt(event: Any) -> bool:
    """Whether ``event`` has no readable time but stops its address (a hard
    bounce, a complaint, an unsubscribe, a drop for SendGrid's list): the
    address must not wait for staff, so it is dated when we received it."""
    if not isinstance(event, dict) or unix_time(event.get("timestamp")):
        return False
    email = event.get("email")
    if (
        not isinstance(email, str)
        or not email
        or not isinstance(event.get("event"), str)
    ):
        return False
    kind = _EVENTS.get(event["event"])
    # "blocked": refused for now, the address not failing for good.
    soft = event.get("type") == "blocked"
    bounce = BounceType.SOFT if soft else BounceType.HARD
    return stops_address(kind, bounce, _suppressed_for(event))


def _unreadable_timestamp(event: Mapping[str, Any]) -> str:
    """The event's unreadable ``timestamp`` as it came ("missing" when there
    is none), for staff; "" when it is readable."""
    if unix_time(event.get("timestamp")) is not None:
        return ""
    return unreadable_time(event, "timestamp")


def _malformed_message(event: Any, problem: str) -> WebhookMessage:
    # Keyed by its content: a redelivered batch stores it once.
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    occurred = event.get("timestamp") if isinstance(event, dict) else None
    return WebhookMessage.build(
        event_type=MALFORMED,
        dedupe_key=f"{MALFORMED}:{digest}",
        payload={"malformed_event": event, "error": problem},
        occurred_at=unix_time(occurred),
    )


def _group_problem(event: Mapping[str, Any]) -> str:
    """Why a group event's ``asm_group_id`` names no unsubscribe group (the
    spec: an integer, at least 1; SendGrid sends one with every group
    event); "" when it does, or for any other event."""
    group = event.get("asm_group_id")
    if event.get("event") not in _GROUP_EVENTS:
        return ""
    if group is None:
        # Applied, an unsubscribe would stop the address on no list, which
        # no resubscribe to its real group could lift.
        return "The SendGrid group event has no 'asm_group_id'."
    if isinstance(group, int) and not isinstance(group, bool) and group >= 1:
        return ""
    return "The SendGrid event's 'asm_group_id' is not a group id (an integer from 1)."


def _group_list(event: Mapping[str, Any]) -> str:
    """The unsubscribe group a group event is on ("asm_group:<id>"); ""
    for any other event, or one naming no group."""
    group = event.get("asm_group_id")
    if event.get("event") not in _GROUP_EVENTS or isinstance(group, bool):
        return ""
    return f"asm_group:{group}" if isinstance(group, int) else ""


def _suppressed_for(event: Mapping[str, Any]) -> str:
    if event.get("event") == "group_resubscribe":
        return "unsubscribe"  # a group's list stops marketing mail only
    if event.get("event") != "dropped":
        return ""
    return _DROPPED_SUPPRESSED.get(str(event.get("reason", "")), "")


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in _DETAILS if event.get(k) not in (None, "")}


def _provider_message_id(event: Mapping[str, Any]) -> str:
    # anymail_id is what our send returned; sg_message_id is SendGrid's own
    # (its part before the first dot is the X-Message-Id of the send).
    anymail_id = event.get("anymail_id")
    if isinstance(anymail_id, str) and anymail_id:
        return anymail_id
    return event_text(event.get("sg_message_id")).partition(".")[0]


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return []
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]


def _names_recipient(error: Mapping[str, Any]) -> bool:
    # {"field": "personalizations.0.to.0.email",
    #  "message": "Does not contain a valid address."}
    field = str(error.get("field") or "")
    text = str(error.get("message") or "").lower()
    return field.startswith("personalizations.") and (
        field.endswith(".email") and "address" in text
    )


def _unverified_from(error: Mapping[str, Any]) -> bool:
    # {"field": "from", "message": "The from address does not match a
    #  verified Sender Identity. Mail cannot be sent until ..."}
    field = str(error.get("field") or "")
    text = str(error.get("message") or "").lower()
    return field in ("", "from", "from.email") and "verified sender identity" in text


def _scopes(response: requests.Response) -> list[str]:
    try:
        scopes = response.json().get("scopes")
    except (ValueError, AttributeError):
        return []
    return [str(s) for s in scopes] if isinstance(scopes, list) else []
