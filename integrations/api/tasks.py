"""Scheduled jobs of the API platform (listed in ``integrations.schedules``)."""

from integrations.api.services import idempotency_records_prune


def prune_idempotency_records() -> int:
    """Hourly: forget Idempotency-Key records older than their TTL."""
    return idempotency_records_prune()
