from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations import health
from integrations.breaker import breaker_mode_set
from integrations.models import HealthCheckResult
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("check_integrations", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def _rows(output: str) -> dict[str, list[str]]:
    lines = output.splitlines()
    assert lines[0].split()[:4] == ["slug", "kind", "provider", "enabled"]
    return {line.split()[0]: line.split() for line in lines[2:]}


def test_all_healthy_prints_a_row_per_account_and_succeeds():
    ProviderAccountFactory(slug="pay-a", kind="payments")
    ProviderAccountFactory(slug="ship-a", kind="shipping", settings={"latency_ms": 5})

    output, error = _run()

    assert error is None
    rows = _rows(output)
    assert set(rows) == {"pay-a", "ship-a"}
    assert rows["pay-a"][:5] == ["pay-a", "payments", "sandbox", "yes", "healthy"]
    assert rows["ship-a"][1] == "shipping"
    assert "closed" in rows["ship-a"]
    assert HealthCheckResult.objects.count() == 2


def test_unhealthy_enabled_account_fails_with_one_readable_line():
    ProviderAccountFactory(slug="pay-a")
    ProviderAccountFactory(slug="pay-b", settings={"outage": True})
    ProviderAccountFactory(slug="pay-c", credentials={"api_key": "wrong"})

    output, error = _run()

    assert str(error) == "2 enabled account(s) unhealthy: pay-b, pay-c"
    rows = _rows(output)
    assert rows["pay-b"][4] == "unhealthy"
    assert "sandbox outage (simulated)" in output
    assert "sandbox rejected the API key" in output
    assert "wrong" not in output.split()


def test_disabled_accounts_are_listed_but_not_probed_and_do_not_fail():
    ProviderAccountFactory(slug="off", enabled=False, settings={"outage": True})

    output, error = _run()

    assert error is None
    assert _rows(output)["off"][3:5] == ["no", "unchecked"]
    assert not HealthCheckResult.objects.exists()


def test_cached_shows_stored_results_without_probing():
    broken = ProviderAccountFactory(slug="pay-b", settings={"outage": True})
    health.account_health_probe(account=broken)
    fresh = ProviderAccountFactory(slug="pay-new")
    # Repaired since the last probe: --cached must still report the stored row.
    broken.settings = {}
    broken.save()

    output, error = _run("--cached")

    assert str(error) == "1 enabled account(s) unhealthy: pay-b"
    rows = _rows(output)
    assert rows["pay-b"][4] == "unhealthy"
    assert rows["pay-new"][4] == "unchecked"
    assert not HealthCheckResult.objects.filter(account=fresh).exists()


def test_breaker_state_and_forced_mode_are_shown():
    account = ProviderAccountFactory(slug="pay-a")
    breaker_mode_set(account=account, mode="forced_open", actor="test")

    output, _ = _run("--cached")

    assert "open (forced_open)" in output


def test_kind_filter():
    ProviderAccountFactory(slug="pay-a", kind="payments")
    ProviderAccountFactory(slug="mail-a", kind="email", settings={"outage": True})

    output, error = _run("--kind", "payments")

    assert error is None
    assert set(_rows(output)) == {"pay-a"}


def test_no_accounts():
    output, error = _run()

    assert error is None
    assert output.strip() == "No provider accounts."


UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


def test_a_redis_outage_during_a_probe_stores_nothing_and_blames_no_provider(
    settings, caplog
):
    """Our Redis being down is not the carrier's fault: no unhealthy row, one
    line without a traceback (INFO: the outage record warns once, core24),
    and the gate still fails."""
    ProviderAccountFactory(slug="ship-a", kind="shipping")
    settings.CACHES = UNREACHABLE_REDIS

    with caplog.at_level("INFO", logger="integrations.health"):
        output, error = _run()

    assert not HealthCheckResult.objects.exists()
    assert error is not None and "1 not checked (Redis unreachable)" in str(error)
    assert "unhealthy" not in str(error)
    assert "not checked (Redis unreachable)" in output
    assert "unreadable (Redis unreachable)" in output
    records = [r for r in caplog.records if r.name == "integrations.health"]
    assert [r.levelname for r in records] == ["INFO"]
    assert records[0].exc_info is None


def test_a_probe_that_cannot_reach_redis_returns_none_and_keeps_the_last_result(
    settings,
):
    account = ProviderAccountFactory(slug="ship-a", kind="shipping")
    before = health.account_health_probe(account=account)
    settings.CACHES = UNREACHABLE_REDIS

    assert health.account_health_probe(account=account) is None
    assert HealthCheckResult.objects.get().checked_at == before.checked_at
