"""Draft purchase orders for SKUs below their reorder point; ``--send`` also
sends them to the ERP."""

from typing import Any

from django.core.management.base import CommandParser

from integrations.errors import ProviderError
from integrations.management.base import ProviderCommand
from inventory import services


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
        orders = services.purchase_orders_draft(skus=sku)
        for order in orders:
            lines = ", ".join(f"{x.quantity} x {x.sku}" for x in order.lines.all())
            self.stdout.write(f"{order.public_id} {order.supplier.code}: {lines}")
            if not send:
                continue
            try:
                services.purchase_order_send(purchase_order=order)
            except (ProviderError, services.InventoryError) as error:
                self.stderr.write(f"  not sent: {error}")
                continue
            self.stdout.write(f"  sent as {order.external_reference}")
        self.stdout.write(f"{len(orders)} purchase order(s) drafted.")
