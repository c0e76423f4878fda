"""One live label per quote (the database's partial unique index): a
shipment that becomes live again outside a buy lets go of its quote when
another live label holds it. What a label needs of its quote later (the
carrier account a pickup names) is kept on the shipment."""

from shipping.models import LIVE_LABEL_STATUSES, RateQuote, Shipment

_ACCOUNT_LENGTH = Shipment._meta.get_field("carrier_account").max_length


def quote_carrier_account(quote: RateQuote) -> str:
    """The account at the carrier ``quote`` was priced under (Shippo's), as
    the shipment stores it; empty when it names none or one too long to
    store (the shipment then keeps reading its quote)."""
    value = str((quote.extra or {}).get("carrier_account") or "")
    return value if len(value) <= _ACCOUNT_LENGTH else ""


def shipment_carrier_account(shipment: Shipment) -> str:
    """The carrier account ``shipment``'s label was bought under: its own
    copy, else its quote's (a row bought before the copy was kept)."""
    if shipment.carrier_account or shipment.quote is None:
        return shipment.carrier_account
    return str((shipment.quote.extra or {}).get("carrier_account") or "")


def quote_release_if_rebought(shipment: Shipment) -> bool:
    """A failed or voided shipment's quote may have been bought again since:
    when the carrier says its label is live after all, it is recorded all
    the same (two labels exist; staff void one) without the quote, which the
    other label holds, keeping the quote's carrier account for a pickup.
    True when the quote was let go. Under the row lock."""
    if shipment.quote_id is None:
        return False
    held = Shipment.objects.filter(
        quote_id=shipment.quote_id, status__in=LIVE_LABEL_STATUSES
    ).exclude(pk=shipment.pk)
    if not held.exists():
        return False
    if not shipment.carrier_account and shipment.quote is not None:
        shipment.carrier_account = quote_carrier_account(shipment.quote)
    shipment.quote = None
    shipment.save(update_fields=["quote", "carrier_account", "updated_at"])
    return True
