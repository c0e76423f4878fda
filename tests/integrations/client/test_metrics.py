"""Metrics helpers, including several processes sharing PROMETHEUS_MULTIPROC_DIR."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from integrations import metrics

ROOT = Path(__file__).resolve().parents[3]

# The suite-wide cache fixture uses the database cache.
pytestmark = pytest.mark.django_db


def test_breaker_state_gauge():
    metrics.set_breaker_state("acct-gauge", "open")
    assert (
        REGISTRY.get_sample_value("switchyard_breaker_state", {"account": "acct-gauge"})
        == 2
    )
    metrics.set_breaker_state("acct-gauge", "half_open")
    assert (
        REGISTRY.get_sample_value("switchyard_breaker_state", {"account": "acct-gauge"})
        == 1
    )
    with pytest.raises(ValueError):
        metrics.set_breaker_state("acct-gauge", "ajar")


def test_render_metrics_exposes_the_call_metrics():
    metrics.record_call(
        account_slug="acct-render",
        operation="op",
        outcome="rejected",
        duration_seconds=0.01,
        attempts=1,
        error_code="bad_request",
    )

    body, content_type = metrics.render_metrics()

    assert content_type.startswith("text/plain")
    text = body.decode()
    assert (
        'switchyard_provider_calls_total{account="acct-render",operation="op",'
        'outcome="rejected"} 1.0'
    ) in text
    assert "switchyard_provider_call_duration_seconds_bucket" in text


_RECORD = """
from integrations import metrics
metrics.record_call(account_slug="mp", operation="op", outcome="success",
                    duration_seconds=0.02, attempts=2)
metrics.set_breaker_state("mp", "open")
"""
_RENDER = """
import sys
from integrations import metrics
sys.stdout.write(metrics.render_metrics()[0].decode())
"""


def test_processes_sharing_a_multiproc_dir_are_summed(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout

    run(_RECORD)
    run(_RECORD)
    text = run(_RENDER)

    assert (
        'switchyard_provider_calls_total{account="mp",operation="op",outcome="success"}'
        " 2.0"
    ) in text
    assert (
        'switchyard_provider_call_attempts_total{account="mp",operation="op"} 4.0'
        in text
    )
    assert 'switchyard_breaker_state{account="mp"} 2.0' in text
