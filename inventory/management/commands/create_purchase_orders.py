"""Draft purchase orders for SKUs below their reorder point; ``--send`` also
sends them, and every draft an earlier run left unsent, to the ERP (non-zero
exit when one could not be sent). A ``--sku`` with neither a stock level nor
a reorder point is refused: "0 drafted" would read as "stock is fine"."""

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser

from integrations.crypto import CredentialsDecryptError
from integrations.errors import ProviderError
from integrations.leases import describe_error
from integrations.management.base import ProviderCommand
from integrations.registry import UnknownProvider
from inventory import services
from inventory.models import PurchaseOrder, ReorderPoint, StockLevel

logger = logging.getLogger(__name__)

# One order's fault, printed on its line: the others are still sent.
_NOT_SENT = (
    ProviderError,
    services.InventoryError,
    UnknownProvider,
    ImproperlyConfigured,
    CredentialsDecryptError,
)


class Command(ProviderCommand):
    help = "Draft (and optionally send) purchase orders from the reorder points."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sku", action="append", help="Only these SKUs.")
        parser.add_argument(
            "--send", action="store_true", help="Send the drafts to the ERP."
        )

    def handle(
        self, *args: Any, sku: list[str] | None, send: bool, **opts: Any
    ) -> None:
        if sku is not None:
            _known_check(sku)
        orders = services.purchase_orders_draft(skus=sku)
        for order in orders:
            lines = ", ".join(f"{x.quantity} x {x.sku}" for x in order.lines.all())
            self.stdout.write(f"{order.public_id} {order.supplier.code}: {lines}")
        self.stdout.write(f"{len(orders)} purchase order(s) drafted.")
        if not send:
            return
        # Drafts an earlier run could not send are sent too: they cover
        # their SKUs, so no new draft would ever be made for them.
        unsent = self._send(services.purchase_orders_unsent(skus=sku))
        if unsent:
            raise CommandError(f"{unsent} purchase order(s) not sent")

    def _send(self, orders: list[PurchaseOrder]) -> int:
        """Send each; the number that could not be sent."""
        failed = 0
        for order in orders:
            try:
                services.purchase_order_send(purchase_order=order)
            except _NOT_SENT as error:
                self.stderr.write(f"{order.public_id} not sent: {error}")
                failed += 1
                continue
            except Exception as error:
                # Still that order's fault alone (an answer we cannot store):
                # the others are sent, and the exit says one was not.
                logger.exception(
                    "purchase order send crashed",
                    extra={"purchase_order": order.public_id},
                )
                self.stderr.write(
                    f"{order.public_id} not sent: {describe_error(error)}"
                )
                failed += 1
                continue
            self.stdout.write(f"{order.public_id} sent as {order.external_reference}")
        return failed


def _known_check(skus: list[str]) -> None:
    """CommandError naming the SKUs we hold nothing for (a typo, most often)."""
    known = set(
        StockLevel.objects.filter(sku__in=skus).values_list("sku", flat=True)
    ).union(ReorderPoint.objects.filter(sku__in=skus).values_list("sku", flat=True))
    unknown = list(dict.fromkeys(s for s in skus if s not in known))
    if unknown:
        names = ", ".join(repr(s) for s in unknown)
        raise CommandError(f"No stock level or reorder point for SKU {names}.")
