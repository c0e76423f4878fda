"""django-q2 tasks for payments: thin, they load by id and call one service."""

from typing import Any

from integrations import correlation
from payments import services
from payments.models import Payment


def reconcile_payment(payment_id: int) -> str | None:
    with correlation.bind(None):
        payment = Payment.objects.filter(pk=payment_id).first()
        if payment is None:
            return None
        return services.payment_reconcile(payment=payment).status


def reconcile_pending_payments() -> int:
    with correlation.bind(None):
        return len(services.payments_reconcile_pending())


def run_recurring_charges() -> dict[str, Any]:
    """The run's report (charged, unknown, declined, retry, held and the
    held charges, failed and the failures' lines): the task result operators
    read in the admin."""
    with correlation.bind(None):
        return services.recurring_charges_report().as_result()


def retry_pending_refunds() -> int:
    with correlation.bind(None):
        return services.refunds_retry_due()
