"""Mailgun (``POST /v3/{domain}/messages``) through anymail's Mailgun backend,
and Mailgun's webhooks: a JSON body whose ``signature`` block is the HMAC-SHA256
of timestamp + token under the webhook signing key. The signature does not
cover the event, so a captured signature must not carry another body: each
token is remembered (in the database, ``notifications.services.webhook_tokens``)
with a digest of the body it came with.
https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks
"""

import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
from anymail.exceptions import AnymailError
from django.db import DatabaseError

from integrations.client import parse_retry_after, server_now
from integrations.errors import ConfigurationError, NotProcessed, ProviderError
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.webhooks.errors import PAYLOAD_ERRORS
from integrations.webhooks.messages import (
    WebhookMessage,
    json_object,
    received_time,
    signature_text,
)
from integrations.webhooks.signing import (
    check_tolerance,
    hmac_hex,
    require_match,
    signed_text,
)
from integrations.webhooks.verification import WebhookVerificationError
from notifications.providers.base import (
    BounceType,
    EmailEventRecord,
    EmailEventType,
    address_domain,
    sending_not_allowed,
)
from notifications.providers.email_types import (
    UndatedEvent,
    event_text,
    stops_address,
    unreadable_time,
)
from notifications.providers.esp import (
    TOLERANCE_FIELD,
    AnymailAdapter,
    refused_recipient,
)
from notifications.services import webhook_tokens

logger = logging.getLogger(__name__)

_SIMPLE: Mapping[str, EmailEventType] = {
    "delivered": EmailEventType.DELIVERED,
    "opened": EmailEventType.OPENED,
    "clicked": EmailEventType.CLICKED,
    "unsubscribed": EmailEventType.UNSUBSCRIBED,
    "complained": EmailEventType.COMPLAINED,
    "rejected": EmailEventType.REJECTED,
}
# A permanent failure for one of these reasons was never attempted: Mailgun
# dropped it for an address already on its suppression lists (the address is
# suppressed here too, for the same reason).
_SUPPRESSED: Mapping[str, str] = {
    "suppress-bounce": "hard_bounce",
    "suppress-unsubscribe": "unsubscribe",
    "suppress-complaint": "complaint",
}
# RFC 3463 enhanced status codes that say the recipient's mailbox does not
# exist or takes no mail (bad mailbox, bad domain, bad syntax, moved, null MX,
# disabled): only these, from a permanent failure, suppress the address. A
# policy or content refusal (5.7.x), a full mailbox (5.2.2) or Mailgun giving
# up after retries (``old``) fails the message and keeps the address.
_ADDRESS_CODES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"})
# Basic SMTP replies that name the mailbox (RFC 5321 4.2.2): 551 user not
# local, 553 mailbox name not allowed. A bare 550 may equally be a policy
# refusal: it counts only with Mailgun's own ``bounce`` verdict.
_ADDRESS_REPLIES = frozenset({551, 553})
_ENHANCED = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
# Mailgun's 429 says when to come back in its message (its OpenAPI's 429
# example); the value is read as any Retry-After is.
_RETRY_IN = re.compile(r"try again after (\S+) seconds?", re.IGNORECASE)
_STORAGE_DOMAIN = re.compile(r"/v3/domains/([^/]+)/messages/")


class MailgunAdapter(AnymailAdapter):
    code = "mailgun"
    display_name = "Mailgun"
    backend_path = "anymail.backends.mailgun.EmailBackend"
    # provider-specs/email/mailgun/openapi.yaml, /v3/{domain_name}/messages:
    # subject "not required if sending with a template"; we send none.
    subject_required = True
    # By the account's region; a credential only goes to Mailgun's hosts.
    region_urls: ClassVar[Mapping[str, str]] = {
        "us": "https://api.mailgun.net/",
        "eu": "https://api.eu.mailgun.net/",
    }
    credential_fields = (
        ConfigField(
            "api_key", "API key", help_text="A Mailgun sending or account key."
        ),
        ConfigField(
            "webhook_signing_key",
            "HTTP webhook signing key",
            required=False,
            help_text="Sending > Webhooks > HTTP webhook signing key. Without it "
            "every webhook is refused.",
        ),
    )
    settings_fields = (
        ConfigField("sender_domain", "Sending domain", help_text="e.g. mg.example.com"),
        ConfigField(
            "region",
            "Region",
            type="choice",
            required=False,
            choices=(("us", "US"), ("eu", "EU")),
            default="us",
        ),
        TOLERANCE_FIELD,
    )
    webhook_signing_credential = "webhook_signing_key"

    @property
    def host_url(self) -> str:
        region = str(self.setting("region"))
        return self.region_urls.get(region, self.region_urls["us"])

    @property
    def api_url(self) -> str:
        return self.host_url + "v3/"

    def backend_options(self) -> dict[str, Any]:
        return {
            "api_key": self.credential("api_key"),
            "sender_domain": self._domain(),
            "api_url": self.api_url,
        }

    def _domain(self) -> str:
        domain = self.setting("sender_domain")
        if not domain:
            raise ConfigurationError(
                "Mailgun setting 'sender_domain' is not set", code="missing_settings"
            )
        return str(domain)

    def provider_error(self, exc: AnymailError) -> ProviderError | None:
        response = getattr(exc, "response", None)
        if not isinstance(response, requests.Response):
            return None
        text = _message(response)
        if response.status_code == 400 and "not a valid address" in text:
            return refused_recipient(
                "Mailgun refused the recipient address",
                provider_code="invalid_address",
                http_status=400,
            )
        setup = _account_setup_refusal(response.status_code, text)
        if setup is not None:
            return setup
        if response.status_code == 429:
            return NotProcessed(
                "Mailgun is rate-limiting this account",
                code="too_many_requests",
                http_status=429,
                retry_after=_rate_limit_wait(response, text),
            )
        return None

    def health_check(self) -> HealthResult:
        response = self.health_get(
            f"{self.host_url}v4/domains/{self._domain()}",
            auth=("api", self.credential("api_key")),
        )
        state = _domain_state(response)
        if state != "active":
            return HealthResult(
                ok=False,
                detail="the sending domain is not active",
                extra={"state": state},
            )
        return HealthResult(ok=True, detail="Mailgun sending domain is active")

    # --- Webhooks ----------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        # The signature travels in the body: found in any encoding, so a
        # forged one is refused as forged; the encoding is checked once it
        # passed, before the token (and the body's digest) is stored.
        text = signature_text(request.body)
        payload = json_object(text, what="a Mailgun webhook")
        block = payload.get("signature")
        if not isinstance(block, dict):
            raise _malformed("The Mailgun webhook has no signature block.")
        timestamp, token, signature = (
            str(block.get(name) or "") for name in ("timestamp", "token", "signature")
        )
        if not (timestamp.isascii() and timestamp.isdigit() and token and signature):
            raise _malformed("The Mailgun signature block is incomplete.")
        signed = signed_text(timestamp + token, param="signature")
        expected = hmac_hex(request.secret, signed)
        require_match(expected, [signature], param="signature")
        self.check_webhook_time(
            float(timestamp), param="signature.timestamp", replay_store=True
        )
        self.check_webhook_encoding(request.body)
        self._check_token(token, float(timestamp), request.body)
        return payload

    def _check_token(self, token: str, timestamp: float, body: bytes) -> None:
        """A token is good for the body it was first seen with: the same
        request again is a duplicate delivery (stored once by the intake),
        the token on another body a replayed signature. Kept in the
        database, not the cache: a Redis outage refusing webhooks would lose
        the ``delivered`` ones, which Mailgun does not send again."""
        signed_at = webhook_tokens.signed_time(timestamp)
        if signed_at is None:
            raise _malformed("The Mailgun signature timestamp is out of range.")
        try:
            claim = webhook_tokens.webhook_token_claim(
                account=self.account, token=token, body=body, signed_at=signed_at
            )
        except DatabaseError as exc:
            # Nothing could be stored either: Mailgun delivers it again. The
            # error's type only: its text may quote the values that failed.
            logger.warning(
                "webhook token store unavailable",
                extra={"account": self.account.slug, "error_type": type(exc).__name__},
            )
            raise NotProcessed(
                "the webhook replay check is unavailable", code="replay_check_failed"
            ) from None
        # Again by the database's clock, which purges the tokens: a web host
        # whose clock is behind (Redis down) must not take a purged token.
        check_tolerance(
            timestamp,
            tolerance=self.webhook_tolerance(),
            param="signature.timestamp",
            now=claim.now.timestamp(),
        )
        if not claim.same_body:
            raise WebhookVerificationError(
                "The Mailgun webhook token was already used.",
                code=WebhookVerificationError.FORGED,
                param="signature.token",
            )

    def webhook_stored_verified(self, request: SignedRequest) -> Any:
        return json_object(request.body, what="a Mailgun webhook")

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        data = verified.get("event-data")
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise _malformed("The Mailgun webhook has no event-data.")
        event_id = data.get("id") or verified["signature"]["token"]
        return WebhookMessage.build(
            event_type=data["event"],
            dedupe_key=str(event_id),
            payload=data,
            occurred_at=_time(data.get("timestamp")) or _received(data),
        )

    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        data = message.payload
        kind, bounce = _kind(data)
        if kind is None:
            return []  # accepted, stored, list member changes
        undated = _undated(data)
        occurred = _time(data.get("timestamp")) or message.occurred_at
        if occurred is None:
            raise UndatedEvent(
                f"The Mailgun event has no readable 'timestamp' (Unix seconds): "
                f"{undated}."
            )
        details = _details(data)
        if undated:
            details["unreadable_timestamp"] = undated
        headers = _part(_part(data, "message"), "headers")
        variables = _part(data, "user-variables")
        return [
            EmailEventRecord(
                type=kind,
                occurred_at=occurred,
                recipient=event_text(data.get("recipient")),
                provider_message_id=event_text(headers.get("message-id")).strip("<>"),
                message_id=event_text(variables.get("message_id")),
                bounce_type=bounce,
                details=details,
                suppressed_for=_suppressed_for(data, kind),
                sender_domain=_sending_domain(data),
                undated=undated,
            )
        ]

    def sending_domains(self) -> frozenset[str]:
        # Every Mailgun account names its sending domain.
        domain = str(self.setting("sender_domain") or "").strip().lower()
        return frozenset({domain.rstrip(".")}) if domain else frozenset()


def _sending_domain(data: Mapping[str, Any]) -> str:
    """The Mailgun domain the message went out on: the event's ``domain``
    (its logs' schema), the domain in its ``storage`` URL, else the envelope
    sender's (on the sending domain). Not the From header, which may name
    any domain."""
    domain = data.get("domain")
    if isinstance(domain, dict) and isinstance(domain.get("name"), str):
        return domain["name"].strip().lower().rstrip(".")
    url = _part(data, "storage").get("url")
    found = _STORAGE_DOMAIN.search(url) if isinstance(url, str) else None
    if found:
        return found.group(1).lower()
    return address_domain(_part(data, "envelope").get("sender"))


def _kind(data: Mapping[str, Any]) -> tuple[EmailEventType | None, BounceType | None]:
    event = str(data.get("event", ""))
    if event != "failed":
        return _SIMPLE.get(event), None
    if data.get("severity") == "temporary":
        return EmailEventType.DEFERRED, None  # Mailgun retries it
    if data.get("reason") in _SUPPRESSED:
        return EmailEventType.REJECTED, None
    if _address_bounced(data):
        return EmailEventType.BOUNCED, BounceType.HARD
    # Failed for good, but not because of the address: the message failed.
    return EmailEventType.REJECTED, None


def _address_bounced(data: Mapping[str, Any]) -> bool:
    """Whether a permanent failure says the recipient's mailbox is bad: by
    the enhanced status code when the reply has a specific one, else by the
    basic reply (docs/providers/email.md, "Mailgun failures")."""
    status = _part(data, "delivery-status")
    enhanced = _enhanced_code(status)
    if enhanced and not enhanced.endswith(".0.0"):
        return enhanced in _ADDRESS_CODES
    reply = _int(status.get("code"))
    if reply in _ADDRESS_REPLIES:
        return True
    return reply == 550 and data.get("reason") == "bounce"


def _enhanced_code(status: Mapping[str, Any]) -> str:
    # Mailgun's ``enhanced-code``, else the code a reply's text starts with
    # (RFC 2034) or a delayed bounce's diagnostic carries.
    for value in (
        status.get("enhanced-code"),
        status.get("message"),
        status.get("description"),
    ):
        found = _ENHANCED.search(str(value or ""))
        if found:
            return found.group(1)
    return ""


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _suppressed_for(data: Mapping[str, Any], kind: EmailEventType) -> str:
    if kind is not EmailEventType.REJECTED or data.get("event") != "failed":
        return ""
    return _SUPPRESSED.get(str(data.get("reason")), "")


def _details(data: Mapping[str, Any]) -> dict[str, Any]:
    status = _part(data, "delivery-status")
    details = {
        "reason": data.get("reason"),
        "severity": data.get("severity"),
        "code": status.get("code"),
        "response": status.get("message") or status.get("description"),
        "url": data.get("url"),
        "useragent": _part(data, "client-info").get("user-agent"),
    }
    return {k: v for k, v in details.items() if v not in (None, "")}


def _part(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    # A part Mailgun's schema makes an object; anything else in a signed
    # body reads as absent rather than failing the whole event.
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _received(data: Mapping[str, Any]) -> datetime | None:
    """When we received an event with no readable time that stops its
    address (it must not wait for staff); None for any other."""
    try:
        kind, bounce = _kind(data)
    except PAYLOAD_ERRORS:
        return None  # stored, and dead with its error once read (payload_read)
    recipient = data.get("recipient")
    if not isinstance(recipient, str) or not recipient:
        return None  # a stop naming no address: nothing it could stop
    stops = stops_address(kind, bounce, _suppressed_for(data, kind) if kind else "")
    return received_time() if stops else None


def _undated(data: Mapping[str, Any]) -> str:
    # The unreadable ``timestamp`` as it came; "" when it is readable.
    if _time(data.get("timestamp")) is not None:
        return ""
    return unreadable_time(data, "timestamp")


def _time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _malformed(message: str) -> WebhookVerificationError:
    return WebhookVerificationError(message, code=WebhookVerificationError.MALFORMED)


def _rate_limit_wait(response: requests.Response, text: str) -> float | None:
    """Seconds a 429 asks us to wait: a usable ``Retry-After`` header (an
    HTTP-date against Mailgun's clock), else the "try again after N seconds"
    of its message; both through ``parse_retry_after`` (the one ceiling, and
    no wait from a value that is no number)."""
    now = server_now(response, time.time)
    header = parse_retry_after(response.headers.get("Retry-After"), now=now)
    if header is not None:
        return header
    found = _RETRY_IN.search(text)
    return parse_retry_after(found.group(1), now=now) if found else None


def _account_setup_refusal(status: int, text: str) -> ProviderError | None:
    """Our account's setup, not the recipient: a sending domain Mailgun does
    not know here (401/404 "Domain not found", or the wrong region), or a
    sandbox / free-plan domain that sends only to authorized recipients (403
    "Domain ... is not allowed to send: ..."). Another account may send; the
    provider's text names the domain and may name the address, so our own
    sentence is kept."""
    lowered = text.lower()
    if status in (401, 404) and "domain not found" in lowered:
        return sending_not_allowed(
            "Mailgun does not know the sending domain on this account (or region)",
            provider_code="domain_not_found",
            http_status=status,
        )
    if status == 403 and "not allowed to send" in lowered:
        return sending_not_allowed(
            "Mailgun does not let this account's domain send the message (a "
            "sandbox or free-plan domain sends only to authorized recipients)",
            provider_code="domain_not_allowed",
            http_status=status,
        )
    return None


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:500]
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def _domain_state(response: requests.Response) -> str:
    try:
        return str(response.json()["domain"]["state"])
    except (ValueError, KeyError, TypeError):
        return ""
