"""Settle payments whose outcome is not known yet by asking their provider.

Prints one line per payment it settled and a summary. A payment whose
provider cannot answer right now is left for the next run; a hard failure
(database unreachable, broken configuration) stops the run with one readable
line and a non-zero exit, so a scheduler or monitor notices. Payments
settled before the failure stay settled.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import DatabaseError

from integrations.errors import ProviderError
from integrations.management.base import ProviderCommand
from integrations.money import MoneyError, format_amount
from integrations.registry import UnknownProvider
from integrations.secrets_registry import staff_text
from payments.models import Payment
from payments.services import payments_reconcile_pending


class Command(ProviderCommand):
    help = "Ask providers about pending and unknown payments and settle them."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settled = payments_reconcile_pending()
        except (
            DatabaseError,
            ImproperlyConfigured,
            UnknownProvider,
            ProviderError,
        ) as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0]
            # Masked as run_recurring_charges masks it: a configuration or
            # database fault may quote a credential.
            raise CommandError(
                f"reconciliation stopped: {type(exc).__name__}: "
                + staff_text(first_line)
            ) from exc
        for payment in settled:
            self.stdout.write(_line(payment))
        self.stdout.write(f"Settled {len(settled)} payment(s).")


def _line(payment: Payment) -> str:
    try:
        amount = format_amount(payment.amount, payment.currency)
    except MoneyError:
        amount = f"{payment.amount} {payment.currency}"
    return f"{payment.public_id} order {payment.order_id}: {payment.status} ({amount})"
