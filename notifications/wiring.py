"""Outbox subscribers that send the shop's transactional mail: the order
confirmation on ``payment.captured``, shipping notices on
``shipment.label_created`` and ``shipment.delivered``; and the single sends
and bulk rows waiting for a paused account tried at once when an email
account is usable again (``integrations.breaker_mode_changed``,
``integrations.breaker_closed``, ``integrations.account_enabled``).

Delivery is at least once, so each message's idempotency key is made from
the event: a redelivered event finds its message and sends nothing more.
"""

import logging
from typing import Any

from integrations.models import Event, ProviderAccount
from integrations.models.accounts import BreakerMode, Kind
from integrations.money import MoneyError, format_amount
from notifications.services import (
    EmailInvalid,
    EmailRenderError,
    email_message_create,
    email_message_store_failed,
    email_waiting_wake,
    email_wake_allowed,
    email_wake_allowed_again,
)

logger = logging.getLogger(__name__)

# The breaker closing by itself (a probe went through): rate-limited.
BREAKER_CLOSED = "integrations.breaker_closed"

SHIPPING_TEMPLATES = {
    "shipment.label_created": "shipping_notice",
    "shipment.delivered": "delivery_notice",
}


def _key(event: Event, template: str) -> str:
    return f"event:{event.pk}:{template}"


def _send(event: Event, *, to: str, template: str, context: dict[str, Any]) -> None:
    """Store and send one message for ``event``. An address (or order id)
    we refuse, or a template that fails, is stored as a failed message with
    its code and reason, for staff: no retry would fix it. No recipient
    ("", or only whitespace) is kept the same way: never dropped."""
    to = to.strip()
    order_id = str(context.get("order_id") or "")[:64]
    try:
        if not to:
            raise EmailInvalid(
                "The event names no recipient email address.",
                code="invalid_email",
                param="to",
            )
        message = email_message_create(
            to=to,
            template=template,
            context=context,
            order_id=order_id,
            idempotency_key=_key(event, template),
            # Failover sends an empty subject through an account that takes
            # one, or fails it subject_empty: never stored failed untried.
            subject_check=False,
        )
    except (EmailInvalid, EmailRenderError) as error:
        # The input's fault: kept failed in the email log for staff (a
        # template fixed, resent); a retry of the event would fail alike.
        logger.warning(
            "event email not sent",
            extra={"event_id": event.pk, "event_name": event.name, "code": error.code},
        )
        message = email_message_store_failed(
            to=to,
            template=template,
            context=context,
            error=error,
            order_id=order_id,
            idempotency_key=_key(event, template),
        )
    logger.info(
        "event email stored",
        extra={"event_id": event.pk, "message_id": message.public_id},
    )


def order_confirmation_send(event: Event) -> None:
    """``payment.captured``: the order confirmation to the payment's
    customer email, with the amount captured."""
    payload = event.payload
    amount = payload.get("amount_captured") or payload.get("amount") or 0
    try:
        amount_display = format_amount(int(amount), str(payload.get("currency")))
    except (MoneyError, TypeError, ValueError):
        logger.warning(
            "captured event without a valid amount", extra={"event_id": event.pk}
        )
        return
    context = {
        "order_id": payload.get("order_id") or payload.get("payment_id") or "",
        "payment_id": payload.get("payment_id") or "",
        "amount_display": amount_display,
    }
    _send(
        event,
        to=str(payload.get("customer_email") or ""),
        template="order_confirmation",
        context=context,
    )


def shipping_notice_send(event: Event) -> None:
    """``shipment.label_created`` / ``shipment.delivered``: the notice with
    the carrier and tracking link, to the shipment's recipient (else the
    order's payment's customer email)."""
    template = SHIPPING_TEMPLATES.get(event.name)
    if template is None:
        return
    payload = event.payload
    order_id = str(payload.get("order_id") or "")
    context = {
        "order_id": order_id or payload.get("shipment") or "",
        "carrier": payload.get("carrier") or "",
        "tracking_number": payload.get("tracking_number") or "",
        "tracking_url": payload.get("tracking_url") or "",
    }
    # Only whitespace is no email either: the order's payment's then.
    to = str(payload.get("customer_email") or "").strip() or _order_email(order_id)
    _send(event, to=to, template=template, context=context)


def _order_email(order_id: str) -> str:
    """The customer email of the order's newest payment that has one."""
    if not order_id:
        return ""
    from payments.models import Payment

    found = (
        Payment.objects.filter(order_id=order_id)
        .exclude(customer_email="")
        .order_by("-created_at")
        .values_list("customer_email", flat=True)
        .first()
    )
    return found or ""


def email_wake(event: Event) -> None:
    """An email account's breaker set back (automatic or forced closed) or
    closed by itself after a probe, the account enabled or added enabled:
    the single sends and bulk rows waiting for a paused account are tried
    now, not when their backoff ends. Only for an enabled email account
    whose breaker lets calls through; its breaker's own close at most once
    per EMAIL_WAKE_INTERVAL_SECONDS (staff's actions always). Run twice, it
    wakes nothing more (the woken are due, or already sent)."""
    if event.payload.get("breaker_state") == "open":
        return
    usable = ProviderAccount.objects.filter(
        slug=event.subject, kind=Kind.EMAIL, enabled=True
    ).exclude(breaker_mode=BreakerMode.FORCED_OPEN)
    if not usable.exists():
        return
    closed = event.name == BREAKER_CLOSED
    if closed and not email_wake_allowed(event.subject):
        logger.info("email wake skipped: woken lately", extra={"event_id": event.pk})
        return
    try:
        email_waiting_wake()
    except Exception:
        if closed:
            # Rolled back, nothing woken: the delivery's retry must not be
            # skipped as woken lately.
            email_wake_allowed_again(event.subject)
        raise
