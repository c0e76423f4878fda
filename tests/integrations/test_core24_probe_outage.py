"""Health probes in a Redis outage: one warning per outage (the outage
record's), not one per account. Each account still reads "not checked" and
the command still fails: the per-account line is kept, at INFO."""

import logging
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.conf import Conf

from integrations import health, health_tasks, redis_line
from integrations.breaker.store import forget_recent
from integrations.models import HealthCheckResult
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

SLUGS = ("ship-a", "ship-b", "ship-c")


@pytest.fixture
def redis_down(settings) -> Iterator[None]:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    forget_recent()
    outage.forget()
    yield
    outage.forget()


@pytest.fixture
def accounts() -> list:
    return [ProviderAccountFactory(slug=slug, kind="shipping") for slug in SLUGS]


def _warnings(caplog) -> list[str]:
    return [r.name for r in caplog.records if r.levelno >= logging.WARNING]


def test_probing_every_account_in_an_outage_warns_once(redis_down, accounts, caplog):
    caplog.set_level(logging.INFO)
    assert health.accounts_health_probe() == []
    assert _warnings(caplog) == [redis_line.logger.name]
    not_run = [r for r in caplog.records if r.name == health.logger.name]
    assert [r.levelno for r in not_run] == [logging.INFO] * len(SLUGS)
    assert not HealthCheckResult.objects.exists()


def test_the_probe_job_warns_once_per_outage(redis_down, accounts, caplog):
    caplog.set_level(logging.INFO)
    for account in accounts:
        assert health_tasks.probe_account(account.pk) is None
    assert _warnings(caplog) == [redis_line.logger.name]


def test_the_command_warns_once_and_still_fails(redis_down, accounts, caplog):
    caplog.set_level(logging.INFO)
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("check_integrations", stdout=out)
    assert f"{len(SLUGS)} not checked (Redis unreachable)" in str(failed.value)
    assert out.getvalue().count("not checked (Redis unreachable)") == len(SLUGS)
    assert _warnings(caplog) == [redis_line.logger.name]


def test_a_second_outage_warns_again(redis_down, accounts, caplog):
    caplog.set_level(logging.INFO)
    health.accounts_health_probe()
    outage.answered()  # Redis came back in between
    health.accounts_health_probe()
    assert _warnings(caplog) == [redis_line.logger.name] * 2


@pytest.fixture
def broker_down(monkeypatch) -> Iterator[None]:
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()
    outage.forget()
    yield
    shared_broker.cache_clear()
    outage.forget()


@pytest.mark.redis
def test_the_probe_fan_out_in_an_outage_stops_with_one_warning(
    broker_down, accounts, caplog
):
    caplog.set_level(logging.INFO)
    assert health_tasks.probe_enabled_accounts() == 0  # none enqueued, no raise
    assert _warnings(caplog) == [redis_line.logger.name]
