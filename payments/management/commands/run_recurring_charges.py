"""Charge the recurring charges that are due, once each, and print how many."""

from typing import Any

from integrations.management.base import ProviderCommand
from payments.services import recurring_charges_run


class Command(ProviderCommand):
    help = "Charge every active recurring charge whose next run is due."

    def handle(self, *args: Any, **options: Any) -> None:
        count = recurring_charges_run()
        self.stdout.write(f"Charged {count} recurring charge(s).")
