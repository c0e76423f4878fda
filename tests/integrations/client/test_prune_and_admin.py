"""Retention of the provider-call log and its read-only admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import ProviderCall
from integrations.schedules import JOBS
from integrations.tasks_calls import prune_provider_calls
from tests.factories import ProviderCallFactory

pytestmark = pytest.mark.django_db


def test_prune_deletes_only_rows_past_retention(settings):
    settings.PROVIDER_CALL_RETENTION_DAYS = 7
    now = timezone.now()
    old = ProviderCallFactory.create_batch(3, started_at=now - timedelta(days=8))
    kept = ProviderCallFactory(started_at=now - timedelta(days=6))

    deleted = prune_provider_calls(now=now)

    assert deleted == 3
    assert list(ProviderCall.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not ProviderCall.objects.filter(pk__in=[c.pk for c in old]).exists()


def test_prune_is_scheduled_daily():
    (job,) = [
        j for j in JOBS if j.func == "integrations.tasks_calls.prune_provider_calls"
    ]
    assert job.minutes == 24 * 60


def test_admin_lists_and_filters_calls(admin_client):
    ProviderCallFactory(operation="create_payment", outcome="success")
    ProviderCallFactory(
        operation="refund", outcome="unknown", error_code="read_timeout"
    )
    url = reverse("admin:integrations_providercall_changelist")

    everything = admin_client.get(url)
    unknown = admin_client.get(url, {"outcome__exact": "unknown"})

    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 2
    assert unknown.status_code == 200
    assert [c.operation for c in unknown.context["cl"].result_list] == ["refund"]
    assert b"read_timeout" in unknown.content


def test_admin_is_read_only(admin_client):
    call = ProviderCallFactory(outcome="success")
    change_url = reverse("admin:integrations_providercall_change", args=[call.pk])

    assert (
        admin_client.get(reverse("admin:integrations_providercall_add")).status_code
        == 403
    )
    admin_client.post(change_url, {"outcome": "rejected"})
    delete_url = reverse("admin:integrations_providercall_delete", args=[call.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403

    call.refresh_from_db()
    assert call.outcome == "success"
    assert admin_client.get(change_url).status_code == 200
