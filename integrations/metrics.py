"""Prometheus metrics for provider calls and breakers, served at ``/metrics``
(the metric names and multi-process set-up: docs/operations.md)."""

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

BREAKER_STATE_VALUES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}

_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

CALLS = Counter(
    "switchyard_provider_calls",
    "Provider operations finished, by outcome.",
    ["account", "operation", "outcome"],
)
ERRORS = Counter(
    "switchyard_provider_call_errors",
    "Failed provider operations, by outcome and error code.",
    ["account", "operation", "outcome", "code"],
)
ATTEMPTS = Counter(
    "switchyard_provider_call_attempts",
    "HTTP attempts made by provider operations (retries included).",
    ["account", "operation"],
)
LATENCY = Histogram(
    "switchyard_provider_call_duration_seconds",
    "Duration of provider operations, retries and back-off included.",
    ["account", "operation"],
    buckets=_LATENCY_BUCKETS,
)
BREAKER_STATE = Gauge(
    "switchyard_breaker_state",
    "Circuit breaker state per account: 0 closed, 1 half-open, 2 open.",
    ["account"],
    # The breaker state is shared through the cache, so every process reports
    # the same thing; the most recent write is the truth.
    multiprocess_mode="mostrecent",
)


def record_call(
    *,
    account_slug: str,
    operation: str,
    outcome: str,
    duration_seconds: float,
    attempts: int,
    error_code: str = "",
) -> None:
    """Count one finished operation (``outcome`` is a ``CallOutcome`` value)."""
    _child(CALLS, account_slug, operation, outcome).inc()
    _child(LATENCY, account_slug, operation).observe(duration_seconds)
    if attempts:
        _child(ATTEMPTS, account_slug, operation).inc(attempts)
    if outcome != "success":
        _child(ERRORS, account_slug, operation, outcome, error_code or outcome).inc()


# Each metric's child per label values, kept: ``labels()`` costs ~7 Python
# calls (its checks, a generator, a lock) and every provider call takes three.
# Nothing removes a child from these metrics, so the one kept stays theirs.
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    key = (metric, *values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


def set_breaker_state(account_slug: str, state: str) -> None:
    """Publish a breaker state: ``closed``, ``half_open`` or ``open``."""
    try:
        value = BREAKER_STATE_VALUES[state]
    except KeyError:
        raise ValueError(f"unknown breaker state {state!r}") from None
    BREAKER_STATE.labels(account_slug).set(value)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render_metrics() -> tuple[bytes, str]:
    """The exposition body and its content type, for the ``/metrics`` view."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """For gunicorn's ``child_exit`` hook in multiprocess mode."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
