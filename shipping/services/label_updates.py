"""A carrier's label-state webhook (Shippo's ``transaction_updated``) settling
a label still being bought, as a poll would (``shipping.services.labels``)."""

import dataclasses
import functools
import logging

from integrations import registry
from integrations.secrets_registry import staff_text
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.base import LabelStatus, LabelUpdate
from shipping.services.labels import SETTLED_BY_LABEL, label_made, settle_under_lock

logger = logging.getLogger(__name__)


def shipment_label_update_apply(*, shipment: Shipment, update: LabelUpdate) -> bool:
    """Settle a label still being bought from the carrier's own webhook, as
    a poll would; True when it changed the shipment. Only ``unknown`` and
    ``purchasing`` shipments move, under a row lock, so a duplicate webhook
    or a poll racing it records the label (and its event) once."""
    if update.label is not None and update.label.status == LabelStatus.PENDING:
        return False
    if update.made and _settles_nothing(shipment, update):
        # Decided before the label's file is fetched: no call for a webhook
        # that changes nothing.
        return False
    if update.fetch_label is not None:
        update = dataclasses.replace(
            update, label=update.fetch_label(), fetch_label=None
        )
    update = _with_parcels(shipment, update)
    label = update.label
    if label is None:
        changed = settle_under_lock(
            shipment, lambda locked: _label_failed(locked, update)
        )
    else:
        # The carrier's word wins: a label it made for a shipment we gave up
        # on (a look-up that missed it) is recorded, and staff alerted.
        made = functools.partial(label_made, label=label)
        changed = settle_under_lock(shipment, made, SETTLED_BY_LABEL)
    if changed:
        logger.info(
            "label webhook applied",
            extra={"shipment_id": shipment.public_id, "status": shipment.status},
        )
    return changed


def _label_failed(shipment: Shipment, update: LabelUpdate) -> None:
    shipment.carrier_shipment_id = update.carrier_shipment_id
    shipment.status = ShipmentStatus.FAILED
    shipment.failure_code = update.failure_code[:64]
    shipment.failure_message = staff_text(update.failure_message)[:255]
    fields = ["carrier_shipment_id", "status", "failure_code", "failure_message"]
    shipment.save(update_fields=fields)


def _settles_nothing(shipment: Shipment, update: LabelUpdate) -> bool:
    """A made label that cannot settle this shipment: it is settled already
    (read without a lock: ``settle_under_lock`` decides under one), or the update is
    another parcel's transaction of a multi-parcel shipment whose own is
    known (its own webhook, or the poll, settles every parcel)."""
    if shipment.status not in SETTLED_BY_LABEL:
        return True
    known = shipment.carrier_shipment_id
    sibling = known and known != update.carrier_shipment_id
    return bool(sibling and len(shipment.parcels or ()) > 1)


def _with_parcels(shipment: Shipment, update: LabelUpdate) -> LabelUpdate:
    """The update with every parcel's label of a multi-parcel shipment, asked
    of the carrier before any row is locked (a ProviderError: the webhook is
    retried; one it cannot store: noted, not applied; a garbled file:
    retried, as the label's own). A sibling parcel's update never gets here
    (``_settles_nothing``)."""
    parcels = len(shipment.parcels or ())
    label = update.label
    if label is None or parcels < 2:
        return update
    adapter = registry.get_adapter(shipment.account)
    full = adapter.settled_label(label, parcels=parcels)  # its files checked too
    return dataclasses.replace(update, label=full)
