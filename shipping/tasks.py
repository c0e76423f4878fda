"""django-q2 tasks for shipping: thin, they load by id and call one service."""

import logging
from collections.abc import Callable

from integrations import correlation
from shipping import services
from shipping.models import Shipment
from shipping.services.pickup_cancel_retry import pickup_cancels_retry
from shipping.services.pickups import pickups_past_sweep, pickups_requested_sweep

logger = logging.getLogger(__name__)


def reconcile_shipment(shipment_id: int) -> str | None:
    with correlation.bind(None):
        shipment = Shipment.objects.filter(pk=shipment_id).first()
        if shipment is None:
            return None
        return services.shipment_reconcile(shipment=shipment).status


def reconcile_unknown_shipments() -> int:
    with correlation.bind(None):
        return len(services.shipments_reconcile_unknown())


def refresh_tracking() -> dict[str, int]:
    with correlation.bind(None):
        return services.shipments_tracking_refresh()


def delete_expired_quotes() -> int:
    with correlation.bind(None):
        return services.quotes_expired_delete()


def announce_sandbox_tracking() -> int:
    with correlation.bind(None):
        return services.sandbox_tracking_announce()


def sweep_stuck_pickups() -> int:
    with correlation.bind(None):
        return pickups_requested_sweep()


def mark_past_pickups() -> dict[str, int]:
    """Cancels in doubt re-sent first (one the carrier confirms ends
    cancelled, never past), then pickups whose day passed marked past. Each
    step runs whatever the one before did (the past sweep leaves a cancel
    in doubt alone); the steps' counts by name. One that breaks is logged
    with its traceback, and once all have run the job fails
    (``JobStepsFailed``): django-q keeps it among its failed tasks."""
    with correlation.bind(None):
        return _steps_run(
            ("cancels_resent", pickup_cancels_retry),
            ("marked_past", pickups_past_sweep),
        )


class JobStepsFailed(Exception):
    """Steps of a job broke (each logged with its traceback); the others ran.
    The message names the broken ones and every step's count."""


def _steps_run(*steps: tuple[str, Callable[[], int]]) -> dict[str, int]:
    # Each step commits its own rows: a later one's failure loses nothing.
    counts: dict[str, int] = {}
    failed: list[str] = []
    for name, step in steps:
        try:
            counts[name] = step()
        except Exception:
            logger.exception("shipping job step failed", extra={"step": name})
            failed.append(name)
    if failed:
        done = ", ".join(f"{name}: {counts.get(name, '-')}" for name, _ in steps)
        raise JobStepsFailed(f"steps failed: {', '.join(failed)} ({done})")
    return counts
