"""django-q2 tasks: thin, each calls one service."""

from integrations import correlation
from inventory import services


def expire_reservations() -> int:
    return services.reservations_expire()


def run_sync(run_id: int) -> str:
    """One time budget of a SyncRun ("sync now", the schedule); the service
    enqueues the next task while pages are left."""
    run = services.sync_run_continue(run_id=run_id)
    return "not_claimed" if run is None else run.status


def sync_all_accounts() -> int:
    """The schedule: a run of every enabled inventory account, one task
    each (an account whose previous sync is still under way is skipped),
    and runs whose task or worker was lost resumed."""
    return services.inventory_syncs_schedule()


def refresh_purchase_orders() -> int:
    return services.purchase_orders_refresh_open()


def forward_hold(forward_id: int, correlation_id: str = "") -> str | None:
    """Tell the ERP of one reservation change (inventory.services.forwarding)."""
    with correlation.bind(correlation_id or None):
        return services.hold_forward_run(forward_id=forward_id)


def sweep_hold_forwards() -> int:
    with correlation.bind(None):
        return services.hold_forwards_sweep()
