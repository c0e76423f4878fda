"""django-q2 tasks: thin, each calls one service."""

import logging

from integrations import correlation
from inventory import services
from inventory.models import SyncRun

logger = logging.getLogger(__name__)


def expire_reservations() -> int:
    return services.reservations_expire()


def run_sync(run_id: int) -> str:
    """Work one queued SyncRun (the admin's "sync now")."""
    run = SyncRun.objects.select_related("account").get(pk=run_id)
    return services.sync_run_execute(run=run).status


def sync_all_accounts() -> int:
    """The schedule: an incremental sync of every enabled inventory account;
    an account whose previous sync is still under way is skipped."""
    done = 0
    for account in services.inventory_accounts():
        try:
            services.inventory_sync(account=account)
        except services.InventoryError as error:
            logger.info(
                "inventory sync skipped",
                extra={"account": account.slug, "code": error.code},
            )
            continue
        done += 1
    return done


def refresh_purchase_orders() -> int:
    return services.purchase_orders_refresh_open()


def forward_hold(forward_id: int, correlation_id: str = "") -> str | None:
    """Tell the ERP of one reservation change (inventory.services.forwarding)."""
    with correlation.bind(correlation_id or None):
        return services.hold_forward_run(forward_id=forward_id)


def sweep_hold_forwards() -> int:
    with correlation.bind(None):
        return services.hold_forwards_sweep()
