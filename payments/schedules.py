"""Payments' periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Payments whose outcome is unknown (or pending too long): ask the gateway.
    Job(
        name="payments.reconcile",
        func="payments.tasks.reconcile_pending_payments",
        minutes=5,
    ),
    # Refunds no gateway could be reached for: sent again, same key.
    Job(
        name="payments.refund_retry",
        func="payments.tasks.retry_pending_refunds",
        minutes=1,
    ),
    # Merchant-initiated recurring charges that are due.
    Job(
        name="payments.recurring",
        func="payments.tasks.run_recurring_charges",
        minutes=60,
    ),
]
