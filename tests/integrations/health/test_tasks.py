import pytest
from django.utils.module_loading import import_string

from integrations import health_tasks, schedules
from integrations.models import HealthCheckResult, HealthStatus
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def test_probe_job_is_scheduled_every_minute():
    [job] = [j for j in schedules.JOBS if j.func.startswith("integrations.health")]
    assert job.minutes == 1
    assert import_string(job.func) is health_tasks.probe_enabled_accounts


def test_scheduled_probe_stores_a_result_per_enabled_account(settings):
    # Q_SYNC (tests/settings.py) runs the enqueued per-account tasks inline.
    assert settings.Q_CLUSTER["sync"] is True
    up = ProviderAccountFactory()
    down = ProviderAccountFactory(settings={"outage": True})
    off = ProviderAccountFactory(enabled=False)

    assert health_tasks.probe_enabled_accounts() == 2

    statuses = dict(HealthCheckResult.objects.values_list("account_id", "status"))
    assert statuses == {up.pk: HealthStatus.HEALTHY, down.pk: HealthStatus.UNHEALTHY}
    assert off.pk not in statuses


def test_probe_task_skips_an_account_disabled_or_deleted_meanwhile():
    account = ProviderAccountFactory(enabled=False)

    assert health_tasks.probe_account(account.pk) is None
    assert health_tasks.probe_account(account.pk + 1000) is None
    assert not HealthCheckResult.objects.exists()


def test_probe_task_returns_the_status():
    account = ProviderAccountFactory()

    assert health_tasks.probe_account(account.pk) == HealthStatus.HEALTHY
