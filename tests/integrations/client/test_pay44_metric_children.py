"""pay44: a provider call's metrics are counted on children kept per label
values: prometheus' ``labels()`` cost ~7 Python calls and each call took
three; the counts are the same."""

import cProfile
import pstats

from prometheus_client import REGISTRY

from integrations.metrics import record_call

LABELS = {"account": "pay44-metrics", "operation": "authorize"}


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {**LABELS, **labels}) or 0.0


def test_a_recorded_call_costs_few_python_calls():
    values = {
        "account_slug": "pay44-metrics",
        "operation": "authorize",
        "outcome": "success",
        "duration_seconds": 0.01,
        "attempts": 1,
    }
    record_call(**values)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(100):
        record_call(**values)
    profile.disable()
    assert pstats.Stats(profile).total_calls / 100 <= 28


def test_the_counts_are_kept():
    calls = "switchyard_provider_calls_total"
    errors = "switchyard_provider_call_errors_total"
    before = _sample(calls, outcome="unknown")
    errors_before = _sample(errors, outcome="unknown", code="read_timeout")
    for _ in range(3):
        record_call(
            account_slug="pay44-metrics",
            operation="authorize",
            outcome="unknown",
            duration_seconds=0.2,
            attempts=2,
            error_code="read_timeout",
        )
    assert _sample(calls, outcome="unknown") == before + 3
    assert _sample(errors, outcome="unknown", code="read_timeout") == errors_before + 3
