"""Payments' periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Payments whose outcome is unknown (or pending too long): ask the gateway.
    Job(
        name="payments.reconcile",
        func="payments.tasks.reconcile_pending_payments",
        minutes=5,
    ),
    # Merchant-initiated recurring charges that are due.
    Job(
        name="payments.recurring",
        func="payments.tasks.run_recurring_charges",
        minutes=60,
    ),
]
