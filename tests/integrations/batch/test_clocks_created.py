"""A batch job is stamped created by the database's clock, the one its
start is stamped by: a web process whose clock is minutes off neither shows
a job started before it was created nor lists jobs out of the order they
were made in."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.batch import batch_job_create
from integrations.clock import database_now
from integrations.models import BatchJob
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from tests.integrations.batch.handlers import H
from tests.integrations.batch.test_admin_and_command import staff_client  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off


@pytest.fixture(autouse=True)
def _two_machines(enqueued) -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


def _create_on_a_machine(seconds: float, name: str, start: bool = True) -> BatchJob:
    with whole_machine_clock(seconds):
        assert abs(timezone.now() - database_now()) > timedelta(seconds=SKEW - 5)
        return batch_job_create(
            kind="email.campaign",
            name=name,
            handler=f"{H}.record",
            items=[("a", {})],
            start=start,
        )


@pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_job_is_created_by_the_databases_clock_before_it_starts(machine) -> None:
    before = database_now()
    job = _create_on_a_machine(machine, "May newsletter")
    after = database_now()

    stored = BatchJob.objects.get(pk=job.pk)
    assert stored.created_at == job.created_at
    assert before <= stored.created_at <= stored.started_at <= after


def test_jobs_are_listed_newest_first_whatever_the_web_process_clock(
    staff_client,  # noqa: F811
) -> None:
    first = _create_on_a_machine(SKEW, "made first, on a fast machine")
    second = _create_on_a_machine(-SKEW, "made second, on a slow machine")

    listing = staff_client.get(reverse("admin:integrations_batchjob_changelist"))

    assert [job.pk for job in listing.context["cl"].result_list] == [
        second.pk,
        first.pk,
    ]
