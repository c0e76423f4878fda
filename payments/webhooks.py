"""Gateway webhooks -> payment changes. Registered for every payments event
type in ``SWITCHYARD_WEBHOOK_HANDLERS["payments"]["*"]``; the intake has
verified and stored the event, reads it first (``prepare``: the adapter's
reading may call the gateway, outside any transaction), and runs this in the
transaction that marks it processed. Applying is monotonic
(``services.payment_event_apply``), so a replay, a duplicate or a late event
changes nothing it should not."""

import logging

from integrations.models import WebhookEvent
from integrations.webhooks.errors import (
    UnprocessableEvent,
    handler_adapter,
    payload_read,
)
from integrations.webhooks.messages import WebhookMessage
from payments import services
from payments.models import Payment
from payments.providers.base import PaymentEvent, PaymentsAdapter

logger = logging.getLogger(__name__)


class PaymentNotFound(LookupError):
    """No payment (yet) for the event's reference: the intake retries later,
    because the webhook can overtake our own record of the charge."""


def payment_webhook_handle(event: WebhookEvent) -> None:
    # Read by ``prepare``; read here when the handler is called alone.
    read = getattr(event, "payment_read", None)
    parsed = read[0] if read is not None else _read(event)
    if parsed is None:
        logger.info(
            "payment webhook ignored",
            extra={"webhook_event_id": event.pk, "event_type": event.event_type},
        )
        return
    if not parsed.provider_reference:
        # No retry can find a payment for no reference.
        raise UnprocessableEvent("payment event names no provider reference")
    payment = Payment.objects.filter(
        account=event.account, provider_reference=parsed.provider_reference
    ).first()
    if payment is None:
        raise PaymentNotFound("no payment for the event's provider reference")
    event.subject = payment.public_id  # stored with the processed row
    services.payment_event_apply(
        payment=payment,
        kind=parsed.kind,
        amount=parsed.amount,
        refund_reference=parsed.refund_reference,
        dispute_status=parsed.dispute_status,
        amount_is_total=parsed.amount_is_total,
        decline=parsed.decline,
    )
    logger.info(
        "payment webhook applied",
        extra={
            "webhook_event_id": event.pk,
            "payment_id": payment.public_id,
            "event_kind": str(parsed.kind),
        },
    )


def _read(event: WebhookEvent) -> PaymentEvent | None:
    """The adapter's reading of the event (None: a type it ignores)."""
    adapter = handler_adapter(event, PaymentsAdapter)
    message = WebhookMessage(
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        payload=event.payload,
        occurred_at=event.occurred_at,
    )
    with payload_read("payment event unreadable"):
        return adapter.parse_payment_event(message)


def _read_first(event: WebhookEvent) -> None:
    """Before the handler's transaction (``prepare``): reading an event may
    ask the gateway (PayPal's refunds and disputes name a capture, looked up
    for its order), and no transaction or row lock waits on that call."""
    event.payment_read = (_read(event),)  # type: ignore[attr-defined]


payment_webhook_handle.prepare = _read_first  # type: ignore[attr-defined]
