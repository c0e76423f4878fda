"""The email sandbox: behaves like a real email API, without a network.

Outcomes are chosen by the recipient's local part (before any ``+tag``), as
Postmark's and Mailgun's test addresses do:

==================  =====================================================
``invalid@...``     refused at send: ``Rejected(invalid_recipient)``
``timeout@...``     accepted, then the answer is lost: ``Unknown``
                    (``read_timeout``); the message is not sent twice
``unavailable@...`` connection refused: ``NotProcessed`` (fails over)
``bounce@...``      accepted, then a hard bounce webhook
``softbounce@...``  accepted, then a soft bounce webhook
``complaint@...``   accepted, delivered, then a complaint webhook
``deferred@...``    accepted, then a deferral webhook
anything else       accepted, then a delivery webhook
==================  =====================================================

Accepted messages are kept in the database (``SandboxEmail``, in the admin),
one per account and message id: a replay of the same message returns the
first answer and sends nothing again.

Account settings inject outages, latency and errors (integrations sandbox);
an injected 500 is ``NotProcessed`` under the email rules.
"""

import uuid
from collections.abc import Callable

from django.utils import timezone

from integrations.client import CallContext, client_for
from integrations.errors import NotProcessed, ProviderError, Unknown
from integrations.providers.sandbox import SandboxAdapter
from integrations.webhooks.messages import WebhookMessage, iso_time
from notifications.models import SandboxEmail
from notifications.providers.base import (
    BounceType,
    EmailAdapter,
    EmailEventRecord,
    EmailEventType,
    OutboundEmail,
    SendResult,
    SendStatus,
    email_outcome,
    recipient_refused,
)

EVENT_PREFIX = "email."
# What each test local part makes the sandbox announce after accepting.
_ANNOUNCED: dict[str, tuple[tuple[EmailEventType, BounceType | None], ...]] = {
    "bounce": ((EmailEventType.BOUNCED, BounceType.HARD),),
    "softbounce": ((EmailEventType.BOUNCED, BounceType.SOFT),),
    "complaint": ((EmailEventType.DELIVERED, None), (EmailEventType.COMPLAINED, None)),
    "deferred": ((EmailEventType.DEFERRED, None),),
}
_DELIVERED = ((EmailEventType.DELIVERED, None),)


def _mailbox_row(message: OutboundEmail) -> dict[str, object]:
    return {
        "provider_message_id": f"sbxmsg_{uuid.uuid4().hex}",
        "to_email": message.to,
        "from_email": message.from_email,
        "subject": message.subject,
        "text_body": message.text,
        "html_body": message.html,
        "headers": dict(message.headers),
        "category": str(message.category),
    }


def sandbox_case(address: str) -> str:
    """The sandbox behaviour an address asks for (its local part, untagged)."""
    return address.partition("@")[0].partition("+")[0].lower()


class SandboxEmailAdapter(SandboxAdapter, EmailAdapter):
    display_name = "Sandbox email"

    def simulate_call(self, *, read_timeout: float | None = None) -> None:
        try:
            super().simulate_call(read_timeout=read_timeout)
        except ProviderError as error:
            raise email_outcome(error) from None

    def deliver(
        self,
        message: OutboundEmail,
        *,
        pacing: bool = False,
        max_wait: float | None = None,
    ) -> SendResult:
        return self.sandbox_email_call(
            "send_email", lambda: self._send(message), pacing, max_wait
        )

    def sandbox_email_call(
        self,
        operation: str,
        work: Callable[[], SendResult],
        pacing: bool,
        max_wait: float | None,
    ) -> SendResult:
        """``work`` as one client operation, injected faults first (as
        ``sandbox_call``, with pacing for bulk sends)."""
        config = client_for(self.account).config

        def attempt(ctx: CallContext) -> SendResult:
            # No HTTP request counts the attempt for the call row: one per try.
            ctx.attempts += 1
            read_timeout = min(config.read_timeout, ctx.remaining())
            self.simulate_call(read_timeout=max(read_timeout, 0.0))
            result = work()
            ctx.http_status = 200
            return result

        return self.email_call(operation, attempt, pacing=pacing, max_wait=max_wait)

    def _send(self, message: OutboundEmail) -> SendResult:
        case = sandbox_case(message.to)
        if case == "invalid":
            raise recipient_refused(
                "sandbox refuses this recipient", provider_code="invalid_address"
            )
        if case == "unavailable":
            raise NotProcessed(
                "sandbox unavailable (simulated)", code="connection_refused"
            )
        stored, created = SandboxEmail.objects.get_or_create(
            account=self.account,
            message_id=message.message_id,
            defaults=_mailbox_row(message),
        )
        provider_id = stored.provider_message_id
        if created:
            self._announce(message, provider_id, _ANNOUNCED.get(case, _DELIVERED))
        if case == "timeout":
            raise Unknown(
                "sandbox did not answer in time (simulated)", code="read_timeout"
            )
        return SendResult(provider_message_id=provider_id, status=SendStatus.ACCEPTED)

    def _announce(
        self,
        message: OutboundEmail,
        provider_id: str,
        events: tuple[tuple[EmailEventType, BounceType | None], ...],
    ) -> None:
        for event_type, bounce in events:
            self.deliver_webhook(
                EVENT_PREFIX + event_type,
                {
                    "provider_message_id": provider_id,
                    "message_id": message.message_id,
                    "recipient": message.to,
                    "bounce_type": bounce or "",
                    "occurred_at": timezone.now().isoformat(),
                },
            )

    def parse_email_events(self, message: WebhookMessage) -> list[EmailEventRecord]:
        kind = message.event_type.removeprefix(EVENT_PREFIX)
        if kind not in EmailEventType.__members__.values():
            return []
        data = message.payload.get("data") or {}
        bounce = data.get("bounce_type") or None
        occurred = iso_time(data.get("occurred_at")) or message.occurred_at
        return [
            EmailEventRecord(
                type=EmailEventType(kind),
                occurred_at=occurred or timezone.now(),
                recipient=str(data.get("recipient", "")),
                provider_message_id=str(data.get("provider_message_id", "")),
                message_id=str(data.get("message_id", "")),
                bounce_type=BounceType(bounce) if bounce else None,
                details={"reason": str(data.get("reason", ""))}
                if data.get("reason")
                else {},
            )
        ]
