import logging

import pytest

from integrations import health
from integrations.errors import NotProcessed
from integrations.models import HealthCheckResult, HealthStatus
from integrations.providers.base import HealthResult
from integrations.providers.sandbox import SandboxAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def test_healthy_sandbox_is_stored_with_latency(account):
    account.settings = {"latency_ms": 30}
    account.save()

    result = health.account_health_probe(account=account)

    assert result.status == HealthStatus.HEALTHY
    assert result.detail == "sandbox reachable"
    assert 30 <= result.latency_ms < 1000
    assert result.last_error == ""
    assert result.last_error_at is None


def test_provider_error_is_unhealthy_with_code_and_message(account):
    account.settings = {"outage": True}
    account.save()

    result = health.account_health_probe(account=account)

    assert result.status == HealthStatus.UNHEALTHY
    assert result.error_class == "NotProcessed"
    assert result.error_code == "connection_refused"
    assert result.detail == "sandbox outage (simulated)"
    assert result.last_error == "sandbox outage (simulated)"
    assert result.last_error_at == result.checked_at


def test_wrong_api_key_is_unhealthy():
    account = ProviderAccountFactory(credentials={"api_key": "live_abcdef123"})

    result = health.account_health_probe(account=account)

    assert result.status == HealthStatus.UNHEALTHY
    assert result.error_code == "authentication_failed"
    assert "live_abcdef123" not in result.detail


def test_recovery_keeps_last_error_and_one_row_per_account(account):
    account.settings = {"outage": True}
    account.save()
    failed = health.account_health_probe(account=account)
    account.settings = {}
    account.save()

    recovered = health.account_health_probe(account=account)

    assert HealthCheckResult.objects.filter(account=account).count() == 1
    assert recovered.status == HealthStatus.HEALTHY
    assert recovered.detail == "sandbox reachable"
    assert recovered.checked_at > failed.checked_at
    assert recovered.last_error == "sandbox outage (simulated)"
    assert recovered.last_error_at == failed.checked_at


def test_credentials_quoted_by_an_adapter_are_scrubbed(account, monkeypatch):
    def leaky(self):
        key = self.credentials["api_key"]
        raise NotProcessed(f"provider refused key {key}", code="auth")

    monkeypatch.setattr(SandboxAdapter, "health_check", leaky)

    result = health.account_health_probe(account=account)

    assert result.detail == "provider refused key [redacted]"
    assert "sbx_test_key" not in result.last_error


def test_unexpected_exception_is_logged_and_stored_without_its_message(
    account, monkeypatch, caplog
):
    def broken(self):
        raise RuntimeError("GET https://user:hunter2@api.example/ping failed")

    monkeypatch.setattr(SandboxAdapter, "health_check", broken)

    with caplog.at_level(logging.ERROR, logger="integrations.health"):
        result = health.account_health_probe(account=account)

    assert result.status == HealthStatus.UNHEALTHY
    assert result.error_class == "RuntimeError"
    assert result.error_code == "unexpected_error"
    assert "hunter2" not in result.detail
    assert "RuntimeError" in result.detail
    [record] = [r for r in caplog.records if r.name == "integrations.health"]
    assert record.getMessage() == "health probe raised an unexpected error"
    assert record.account == "sbx-pay"
    assert record.exc_info is not None


def test_not_ok_health_result_is_unhealthy(account, monkeypatch):
    monkeypatch.setattr(
        SandboxAdapter,
        "health_check",
        lambda self: HealthResult(ok=False, detail="account suspended"),
    )

    result = health.account_health_probe(account=account)

    assert result.status == HealthStatus.UNHEALTHY
    assert result.error_code == "health_check_failed"
    assert result.last_error == "account suspended"


def test_unknown_provider_code_is_unhealthy_not_raised():
    account = ProviderAccountFactory(provider="acme")

    result = health.account_health_probe(account=account)

    assert result.status == HealthStatus.UNHEALTHY
    assert result.error_class == "UnknownProvider"


def test_long_detail_is_cut_to_the_column(account, monkeypatch):
    monkeypatch.setattr(
        SandboxAdapter,
        "health_check",
        lambda self: HealthResult(ok=True, detail="x" * 900),
    )

    result = health.account_health_probe(account=account)

    assert len(result.detail) == health.TEXT_LIMIT
    assert result.detail.endswith("…")


def test_probe_all_probes_enabled_accounts_only():
    up = ProviderAccountFactory()
    down = ProviderAccountFactory(settings={"outage": True})
    ProviderAccountFactory(enabled=False)

    results = health.accounts_health_probe()

    assert {r.account_id: r.status for r in results} == {
        up.pk: HealthStatus.HEALTHY,
        down.pk: HealthStatus.UNHEALTHY,
    }
    assert HealthCheckResult.objects.count() == 2
