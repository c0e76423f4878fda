"""Inventory's periodic jobs, collected by ``manage.py setup_schedules``."""

from integrations.schedules import Job

JOBS: list[Job] = [
    # Reservations past their time already stop counting at read time; this
    # takes their units off ``reserved`` for good.
    Job(
        name="inventory.expire_reservations",
        func="inventory.tasks.expire_reservations",
        minutes=1,
    ),
    # Stock from every ERP account, incremental where the ERP allows it.
    Job(
        name="inventory.sync",
        func="inventory.tasks.sync_all_accounts",
        minutes=15,
    ),
    # Sent purchase orders: where the ERP says they stand now.
    Job(
        name="inventory.purchase_orders.refresh",
        func="inventory.tasks.refresh_purchase_orders",
        minutes=30,
    ),
    # Holds forwarded to ERPs: retries that are due, and rows the broker lost.
    Job(
        name="inventory.forward_holds",
        func="inventory.tasks.sweep_hold_forwards",
        minutes=1,
    ),
]
