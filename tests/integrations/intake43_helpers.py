"""Shared by the intake43 tests: the intake's refusal counter."""

from prometheus_client import REGISTRY


def refusals(slug: str, code: str) -> float:
    """``switchyard_webhook_requests_total`` for one account and result."""
    value = REGISTRY.get_sample_value(
        "switchyard_webhook_requests_total", {"account": slug, "result": code}
    )
    return value or 0.0
