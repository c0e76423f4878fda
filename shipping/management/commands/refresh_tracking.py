"""Poll the carriers for every active shipment that is due (or the ones
named), with a progress bar on stderr and a summary line on stdout."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from integrations.management.base import ProviderCommand
from shipping import services
from shipping.models import Shipment, ShipmentStatus

_BAR_WIDTH = 30


class Command(ProviderCommand):
    help = "Ask the carriers where active shipments are; store new tracking events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "shipments",
            nargs="*",
            help="Public ids (shp_...); default: every shipment due.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids = options["shipments"]
        if ids:
            chosen = list(
                Shipment.objects.filter(
                    public_id__in=ids, status=ShipmentStatus.PURCHASED
                ).select_related("account")
            )
            missing = sorted(set(ids) - {s.public_id for s in chosen})
            if missing:
                raise CommandError(
                    f"not a bought shipment: {', '.join(missing[:5])}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                )
        else:
            chosen = services.shipments_due_for_tracking()
        total, done = len(chosen), 0

        def progress(shipment: Shipment, outcome: str) -> None:
            nonlocal done
            done += 1
            filled = _BAR_WIDTH * done // max(total, 1)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            self.stderr.write(f"\r[{bar}] {done}/{total}", ending="")

        counts = services.shipments_tracking_refresh(
            shipments=chosen, progress=progress
        )
        if total:
            self.stderr.write("")
        self.stdout.write(
            f"{counts['checked']} checked, {counts['updated']} updated, "
            f"{counts['failed']} failed, {counts['events']} new events"
        )
        failed, broken = counts["failed"], counts["broken"]
        # Named shipments must all be tracked; in a sweep, one number a
        # carrier does not know is routine, none tracked at all is not, and
        # an account this deploy cannot call needs someone.
        if broken:
            raise CommandError(
                f"{broken} shipment(s) on a carrier account that cannot be "
                "called (unknown provider, configuration or credentials); "
                "the others were tracked"
            )
        if failed and (ids or failed == counts["checked"]):
            raise CommandError(f"{failed} shipment(s) could not be tracked")
