"""Carrier tracking webhooks -> tracking events. Registered for every
shipping event type in ``SWITCHYARD_WEBHOOK_HANDLERS["shipping"]["*"]``; the
intake has verified and stored the event. Applying stores events once and
moves the status forward only (``services.shipment_tracking_apply``), so a
replay, a duplicate or a late webhook changes nothing it should not."""

import logging

from integrations import registry
from integrations.models import WebhookEvent
from integrations.webhooks.messages import WebhookMessage
from shipping import services
from shipping.models import Shipment
from shipping.providers.base import ShippingAdapter

logger = logging.getLogger(__name__)


def tracking_webhook_handle(event: WebhookEvent) -> None:
    adapter = registry.get_adapter(event.account)
    if not isinstance(adapter, ShippingAdapter):
        raise TypeError("shipping webhook handler called for a non-shipping account")
    if not adapter.supports("tracking_webhooks"):
        logger.info("shipping webhook ignored", extra={"webhook_event_id": event.pk})
        return
    message = WebhookMessage(
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        payload=event.payload,
        occurred_at=event.occurred_at,
    )
    info = adapter.parse_tracking_update(message)
    shipment = None
    if info is not None:
        shipment = Shipment.objects.filter(
            account=event.account, tracking_number=info.tracking_number
        ).first()
    if info is None or shipment is None:
        # Not ours (Shippo posts for every number on the account) or no
        # tracking in it: nothing to apply, nothing to retry.
        logger.info(
            "shipping webhook without a shipment",
            extra={"webhook_event_id": event.pk, "event_type": event.event_type},
        )
        return
    new = services.shipment_tracking_apply(shipment=shipment, info=info)
    logger.info(
        "tracking webhook applied",
        extra={
            "webhook_event_id": event.pk,
            "shipment_id": shipment.public_id,
            "new_events": new,
        },
    )
