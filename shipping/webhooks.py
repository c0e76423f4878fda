"""Carrier webhooks -> tracking events and label states. Registered for
every shipping event type in ``SWITCHYARD_WEBHOOK_HANDLERS["shipping"]["*"]``;
the intake has verified and stored the event. Applying stores events once and
moves the status forward only (``services.shipment_tracking_apply``,
``services.shipment_label_update_apply``), so a replay, a duplicate or a late
webhook changes nothing it should not."""

import logging
from dataclasses import replace

from django.db.models import Q

from integrations.errors import Unknown
from integrations.models import WebhookEvent
from integrations.webhooks.errors import handler_adapter, payload_read
from integrations.webhooks.messages import WebhookMessage
from shipping import services
from shipping.models import Shipment
from shipping.providers.base import LabelUpdate, ShippingAdapter

logger = logging.getLogger(__name__)

# A label webhook we cannot read or store (shipping.providers.answers): the
# same body fails the same way on every retry. A garbled label file fetched
# for it is another code (garbled_label_file): raised, so it is retried.
MALFORMED = "malformed_response"


def tracking_webhook_handle(event: WebhookEvent) -> None:
    adapter = _adapter(event)
    message = _message(event)
    if adapter.supports("label_webhooks") and _label_update(event, adapter, message):
        return
    if not adapter.supports("tracking_webhooks"):
        logger.info("shipping webhook ignored", extra={"webhook_event_id": event.pk})
        return
    with payload_read("tracking webhook unreadable"):
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
    event.subject = shipment.public_id  # stored with the processed row
    new = services.shipment_tracking_apply(shipment=shipment, info=info)
    logger.info(
        "tracking webhook applied",
        extra={
            "webhook_event_id": event.pk,
            "shipment_id": shipment.public_id,
            "new_events": new,
        },
    )


def _refund_recheck(event: WebhookEvent) -> None:
    """Before the handler's transaction (``prepare``): a refund update of a
    label we hold is read again at the carrier; its answer (None: nothing to
    apply) is kept on ``event`` as ``rechecked`` for the handler."""
    adapter = _adapter(event)
    if not adapter.supports("label_webhooks"):
        return
    try:
        update = _label_read(adapter, _message(event))
    except Unknown as error:
        if error.code != MALFORMED:
            raise
        return  # the handler notes it for staff
    if update is None or not _refund(update) or update.recheck is None:
        return
    if _shipment_of(event, update) is not None:
        event.rechecked = update.recheck()  # type: ignore[attr-defined]


tracking_webhook_handle.prepare = _refund_recheck  # type: ignore[attr-defined]


def _adapter(event: WebhookEvent) -> ShippingAdapter:
    adapter = handler_adapter(event, ShippingAdapter)
    return adapter


def _label_read(
    adapter: ShippingAdapter, message: WebhookMessage
) -> LabelUpdate | None:
    # Its malformed_response is noted by the callers (no retry, no failure).
    with payload_read("label webhook unreadable", malformed_code=False):
        return adapter.label_update(message)


def _message(event: WebhookEvent) -> WebhookMessage:
    return WebhookMessage(
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        payload=event.payload,
        occurred_at=event.occurred_at,
    )


def _label_update(
    event: WebhookEvent, adapter: ShippingAdapter, message: WebhookMessage
) -> bool:
    """Apply a label-state webhook; False when the event settles no label
    (then it is tried as tracking, which ignores it if it is neither). One
    naming a label id or number that cannot be stored is noted, not applied:
    the same body fails the same way every time (no retry helps), and the
    shipment stays as it was for the sweep and staff."""
    try:
        return _label_update_apply(event, adapter, message)
    except Unknown as error:
        if error.code != MALFORMED:
            raise
        event.note = f"label webhook not applied: {error.message}"[:255]
        logger.warning(
            "label webhook not applied",
            extra={"webhook_event_id": event.pk, "code": error.code},
        )
        return True


def _label_update_apply(
    event: WebhookEvent, adapter: ShippingAdapter, message: WebhookMessage
) -> bool:
    update = _label_read(adapter, message)
    if update is None:
        return False
    shipment = _shipment_of(event, update)
    if shipment is None:
        logger.info(
            "label webhook without a shipment", extra={"webhook_event_id": event.pk}
        )
        return True
    event.subject = shipment.public_id
    if _refund(update):
        if hasattr(event, "rechecked"):  # asked before the transaction
            found = event.rechecked
            update = found and replace(found, recheck=None)
        changed = update is not None and services.shipment_refund_update_apply(
            shipment=shipment, update=update
        )
    else:
        changed = services.shipment_label_update_apply(shipment=shipment, update=update)
    logger.info(
        "label webhook handled",
        extra={
            "webhook_event_id": event.pk,
            "shipment_id": shipment.public_id,
            "changed": changed,
        },
    )
    return True


def _refund(update: LabelUpdate) -> bool:
    return update.refund_rejected or update.refunded


def _shipment_of(event: WebhookEvent, update: LabelUpdate) -> Shipment | None:
    """The shipment whose label the update is about. A refund concerns a
    label we hold (the shipment's own or a parcel's transaction), never one
    only the posted metadata names: nothing is asked of the carrier for an
    id the poster chose."""
    ours = Shipment.objects.filter(account=event.account)
    transaction = update.carrier_shipment_id
    if _refund(update):
        if not transaction:
            return None
        label = Q(carrier_shipment_id=transaction)
        return ours.filter(
            label | Q(parcel_labels__carrier_reference=transaction)
        ).first()
    shipment = ours.filter(carrier_shipment_id=transaction).first()
    if shipment is None and update.reference:
        # The buy's answer was lost: the carrier echoes our reference.
        shipment = ours.filter(public_id=update.reference).first()
    return shipment
