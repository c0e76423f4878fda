"""django-q2 tasks for shipping: thin, they load by id and call one service."""

from integrations import correlation
from shipping import services
from shipping.models import Shipment
from shipping.services.pickup_cancels import pickup_cancels_retry
from shipping.services.pickups import pickups_past_sweep, pickups_requested_sweep


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


def mark_past_pickups() -> int:
    with correlation.bind(None):
        # Cancels in doubt first: one the carrier confirms ends cancelled,
        # never past.
        pickup_cancels_retry()
        return pickups_past_sweep()
