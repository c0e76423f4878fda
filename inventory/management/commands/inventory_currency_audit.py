"""Compare the currency of purchase orders no refresh reads again (finished,
``received``, by default) with the order the ERP holds: one line per order
held in another currency, one per order that could not be checked. Dry run
unless ``--record`` (a mismatch kept in ``last_error`` for staff, as the
refresh keeps it). Non-zero exit on an unknown account or status, an
account named that is not an enabled inventory one (one line, nothing
read), and when an order could not be checked (the audit is not complete)."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from integrations.management.base import ProviderCommand
from inventory import services
from inventory.management.accounts import named_inventory_account
from inventory.services.purchase_audit import AUDITABLE, AUDITED_BY_DEFAULT


class Command(ProviderCommand):
    help = (
        "Audit purchase orders no refresh reads (received, by default) for an "
        "ERP order held in another currency. Dry run unless --record."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--status",
            action="append",
            choices=[str(s) for s in AUDITABLE],
            help="Orders of this status (repeatable; default: received).",
        )
        parser.add_argument(
            "--account", action="append", help="Only this ERP account's slug."
        )
        parser.add_argument(
            "--record",
            action="store_true",
            help="Keep each mismatch in the order's last error (default: dry run).",
        )

    def handle(
        self,
        *args: Any,
        status: list[str] | None,
        account: list[str] | None,
        record: bool,
        **opts: Any,
    ) -> None:
        slugs = account or []
        for slug in dict.fromkeys(slugs):
            named_inventory_account(slug)  # refused in one line, before any read
        report = services.purchase_orders_currency_audit(
            statuses=status or [str(s) for s in AUDITED_BY_DEFAULT],
            account_slugs=slugs,
            record=record,
        )
        unchecked = 0
        for finding in report.findings:
            order = finding.order
            line = (
                f"{order.public_id} (ERP order {order.external_reference}, "
                f"{order.status}): {finding.detail}"
            )
            if finding.mismatch:
                self.stdout.write(line)
            else:
                self.stderr.write(f"not checked: {line}")
                unchecked += 1
        mismatched = len(report.findings) - unchecked
        kept = "kept in last_error" if record else "dry run: nothing stored"
        self.stdout.write(
            f"{report.read} order(s) read, {mismatched} held in another "
            f"currency ({kept}), {unchecked} not checked."
        )
        if unchecked:
            raise CommandError(f"{unchecked} purchase order(s) not checked")
