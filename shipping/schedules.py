"""Shipping's periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Active shipments not asked about for SHIPPING_TRACKING_REFRESH_MINUTES.
    Job(name="shipping.tracking", func="shipping.tasks.refresh_tracking", minutes=15),
    # Label buys whose answer was lost: ask the carrier, never rebuy.
    Job(
        name="shipping.reconcile",
        func="shipping.tasks.reconcile_unknown_shipments",
        minutes=5,
    ),
    # Sandbox carriers push their parcels' new scans as signed webhooks.
    Job(
        name="shipping.sandbox_tracking",
        func="shipping.tasks.announce_sandbox_tracking",
        minutes=1,
    ),
    # Pickup bookings whose process died mid-call: 'unknown', for staff.
    Job(
        name="shipping.pickups_stuck",
        func="shipping.tasks.sweep_stuck_pickups",
        minutes=5,
    ),
    # Scheduled pickups whose day has passed: 'past' (done or missed).
    Job(
        name="shipping.pickups_past",
        func="shipping.tasks.mark_past_pickups",
        minutes=60,
    ),
    # Quotes nobody bought, a day after they expired.
    Job(
        name="shipping.quotes_cleanup",
        func="shipping.tasks.delete_expired_quotes",
        minutes=24 * 60,
    ),
]
