"""One live label per quote (the database's partial unique index): a
shipment that becomes live again outside a buy lets go of its quote when
another live label holds it."""

from shipping.models import LIVE_LABEL_STATUSES, Shipment


def quote_release_if_rebought(shipment: Shipment) -> bool:
    """A failed or voided shipment's quote may have been bought again since:
    when the carrier says its label is live after all, it is recorded all
    the same (two labels exist; staff void one) without the quote, which the
    other label holds. True when the quote was let go. Under the row lock."""
    if shipment.quote_id is None:
        return False
    held = Shipment.objects.filter(
        quote_id=shipment.quote_id, status__in=LIVE_LABEL_STATUSES
    ).exclude(pk=shipment.pk)
    if not held.exists():
        return False
    shipment.quote = None
    shipment.save(update_fields=["quote", "updated_at"])
    return True
