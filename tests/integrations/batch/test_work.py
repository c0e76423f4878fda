"""Working a job: chunks, exactly once, failures with retry and give-up, lost
leases, pacing and cancel, through the public batch API."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from integrations.batch import (
    WorkState,
    batch_job_create,
    batch_job_progress,
    batch_job_work,
)
from integrations.models import BatchItem, BatchJob, BatchJobStatus, BatchRowStatus
from integrations.testing.faultserver import fault_server, respond
from tests.factories import ProviderAccountFactory
from tests.integrations.batch import handlers
from tests.integrations.batch.conftest import FakeClock
from tests.integrations.batch.handlers import H, effects

pytestmark = pytest.mark.django_db


def _job(n: int, handler: str = "record", payload: dict | None = None, **kw):
    items = [(f"k{i:02d}", payload or {}) for i in range(n)]
    return batch_job_create(
        kind="test.batch", handler=f"{H}.{handler}", items=items, **kw
    )


def _statuses(job: BatchJob) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in BatchItem.objects.filter(job=job).values_list("status", flat=True):
        out[status] = out.get(status, 0) + 1
    return out


def _rows_metric(result: str) -> float:
    labels = {"kind": "test.batch", "result": result}
    return REGISTRY.get_sample_value("switchyard_batch_rows_total", labels) or 0.0


def _attempts(job: BatchJob) -> set[int]:
    return set(BatchItem.objects.filter(job=job).values_list("attempts", flat=True))


def _make_retries_due(job: BatchJob) -> None:
    BatchItem.objects.filter(job=job, next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_budget_zero_works_one_chunk_per_call_in_key_order(enqueued):
    job = _job(25, chunk_size=10)
    first = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (first.state, first.done) == (WorkState.MORE, 10)
    assert sorted(effects(job.pk)) == [f"k{i:02d}" for i in range(10)]
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (BatchJobStatus.RUNNING, 10, 25)
    second = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (second.state, second.done) == (WorkState.MORE, 10)
    last = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (last.state, last.done) == (WorkState.STOPPED, 5)
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == (BatchJobStatus.DONE, 25, 0)
    assert job.finished_at is not None


def test_one_call_works_every_chunk_within_its_budget(enqueued, clock):
    job = _job(35, chunk_size=10)
    result = batch_job_work(job_id=job.pk, budget_seconds=60, clock=clock)
    assert (result.state, result.done) == (WorkState.STOPPED, 35)
    assert effects(job.pk) == {f"k{i:02d}": 1 for i in range(35)}
    assert _statuses(job) == {BatchRowStatus.DONE: 35}


def test_a_spent_budget_ends_the_call_after_the_chunk_under_way(enqueued):
    ticking = FakeClock(tick=4.0)  # every reading is 4 s later
    job = _job(40, chunk_size=10)
    result = batch_job_work(job_id=job.pk, budget_seconds=10, clock=ticking)
    assert result.state == WorkState.MORE
    assert 0 < result.done < 40 and result.done % 10 == 0


def test_a_finished_row_is_never_worked_again(enqueued):
    job = _job(12, chunk_size=5)
    while batch_job_work(job_id=job.pk, budget_seconds=0).state != WorkState.STOPPED:
        pass
    assert batch_job_work(job_id=job.pk).state == WorkState.STOPPED
    assert effects(job.pk) == {f"k{i:02d}": 1 for i in range(12)}


def test_failure_keeps_the_error_backs_off_and_retries_to_success(enqueued):
    job = _job(3, handler="flaky", payload={"fail_times": 1})
    result = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (result.state, result.retried, result.done) == (WorkState.WAITING, 3, 0)
    assert result.wait == pytest.approx(30, abs=2)  # BATCH_RETRY_BASE_SECONDS
    row = BatchItem.objects.filter(job=job).first()
    assert row.status == BatchRowStatus.PENDING and row.attempts == 1
    assert "ConnectionError: downstream refused attempt 1" in row.last_error
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert effects(job.pk) == {}  # the failed attempts' writes rolled back
    # Not due yet: nothing is claimed.
    assert batch_job_work(job_id=job.pk, budget_seconds=0).done == 0
    _make_retries_due(job)
    result = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (result.state, result.done) == (WorkState.STOPPED, 3)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("done", 2, "")
    assert effects(job.pk) == {"k00": 1, "k01": 1, "k02": 1}


def test_a_row_out_of_attempts_fails_and_the_job_still_finishes(enqueued):
    job = _job(2, handler="flaky", payload={"fail_times": 9})
    for _ in range(3):  # BATCH_MAX_ATTEMPTS
        batch_job_work(job_id=job.pk, budget_seconds=0)
        _make_retries_due(job)
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == (BatchJobStatus.DONE, 0, 2)
    row = BatchItem.objects.filter(job=job).first()
    assert (row.status, row.attempts) == (BatchRowStatus.FAILED, 3)
    assert row.last_error.startswith("ConnectionError: downstream refused attempt 3")
    assert effects(job.pk) == {}


def test_a_rejected_row_fails_at_once(enqueued):
    before = _rows_metric("failed")
    job = _job(2, handler="rejected")
    result = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (result.state, result.failed) == (WorkState.STOPPED, 2)
    row = BatchItem.objects.filter(job=job).first()
    assert (row.status, row.attempts) == (BatchRowStatus.FAILED, 1)
    assert row.last_error.startswith("Rejected: address invalid")
    assert row.next_attempt_at is None
    assert effects(job.pk) == {}  # its write rolled back with the failure
    assert _rows_metric("failed") == before + 2


def test_the_second_attempt_backs_off_twice_as_long(enqueued):
    job = _job(1, handler="flaky", payload={"fail_times": 5})
    batch_job_work(job_id=job.pk, budget_seconds=0)
    _make_retries_due(job)
    result = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert result.wait == pytest.approx(60, abs=2)


def test_a_lost_lease_rolls_the_handlers_writes_back(enqueued):
    job = _job(2, handler="loses_claim")
    result = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert (result.lost, result.done) == (2, 0)
    assert effects(job.pk) == {}
    # The rows stay with whoever holds them now; not done, not failed here.
    assert _statuses(job) == {BatchRowStatus.RUNNING: 2}
    job.refresh_from_db()
    assert (job.done, job.failed, job.status) == (0, 0, BatchJobStatus.RUNNING)


def test_rate_limited_paces_the_job_without_spending_attempts(enqueued):
    handlers.PACE.update(left=2, retry_after=0.05)
    job = _job(4, handler="rate_limited")
    started = time.monotonic()
    result = batch_job_work(job_id=job.pk, budget_seconds=5)
    assert time.monotonic() - started >= 0.1  # waited out both pauses
    assert (result.state, result.done, result.failed) == (WorkState.STOPPED, 4, 0)
    assert _attempts(job) == {1}
    assert effects(job.pk) == {f"k{i:02d}": 1 for i in range(4)}


def test_a_paced_call_out_of_budget_paces_the_job(enqueued):
    # The client's Paced (bulk call still rate-limited after its wait budget)
    # is "come back later": no attempt spent, nothing failed.
    handlers.PACE.update(left=1, retry_after=120)
    job = _job(3, handler="paced")
    result = batch_job_work(job_id=job.pk, budget_seconds=30)
    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(120, abs=2)
    assert (result.done, result.failed) == (0, 0)
    assert _attempts(job) == {0}


def test_a_long_pause_ends_the_call_and_holds_every_row(enqueued):
    handlers.PACE.update(left=1, retry_after=120)
    job = _job(5, handler="rate_limited")
    result = batch_job_work(job_id=job.pk, budget_seconds=30)
    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(120, abs=2)
    assert (result.done, result.failed, result.retried) == (0, 0, 0)
    assert _statuses(job) == {BatchRowStatus.PENDING: 5}
    assert _attempts(job) == {0}
    job.refresh_from_db()
    assert job.paced_until > timezone.now() + timedelta(seconds=100)
    assert "paced until" in batch_job_progress(job).summary()
    # Another worker arriving meanwhile claims nothing either.
    again = batch_job_work(job_id=job.pk, budget_seconds=30)
    assert (again.state, again.done) == (WorkState.WAITING, 0)
    assert handlers.PACE["left"] == 0  # and never called the handler


def test_a_rate_limit_without_retry_after_waits_the_default(enqueued, settings):
    settings.BATCH_PACE_SECONDS = 90
    handlers.PACE.update(left=1, retry_after=None)
    job = _job(1, handler="rate_limited")
    result = batch_job_work(job_id=job.pk, budget_seconds=30)
    assert result.wait == pytest.approx(90, abs=2)


@pytest.mark.parametrize("retry_after", ["1e12", "inf", "99999999999"])
def test_an_absurd_retry_after_paces_the_job_for_a_bounded_wait(
    enqueued, settings, retry_after
):
    # A provider's 429 with an absurd Retry-After must neither kill the worker
    # (an OverflowError with its rows leased) nor park the job for centuries.
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600
    account = ProviderAccountFactory(settings={"breaker_consecutive_failures": 50})
    busy = respond(429, headers={"Retry-After": retry_after})
    with fault_server() as server:
        server.route("POST", "/send", busy)
        handlers.PROVIDER.update(account=account.pk, url=server.url_for("/send"))
        job = _job(2, handler="provider_call")
        result = batch_job_work(job_id=job.pk, budget_seconds=5)
    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(600, abs=2)
    assert _statuses(job) == {BatchRowStatus.PENDING: 2}
    job.refresh_from_db()
    assert job.paced_until < timezone.now() + timedelta(seconds=601)


@pytest.mark.parametrize("wait", [float("inf"), 1e15])
def test_a_handlers_absurd_pace_is_bounded_too(enqueued, settings, wait):
    # A wait that never went through parse_retry_after (a number read from a
    # provider's body, a handler's own Pace) cannot overflow the pause either.
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600
    handlers.PACE.update(left=1, retry_after=wait)
    job = _job(1, handler="rate_limited")
    result = batch_job_work(job_id=job.pk, budget_seconds=30)
    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(600, abs=2)


def test_a_pace_of_nan_waits_the_default(enqueued, settings):
    settings.BATCH_PACE_SECONDS = 90
    handlers.PACE.update(left=1, retry_after=float("nan"))
    job = _job(1, handler="rate_limited")
    result = batch_job_work(job_id=job.pk, budget_seconds=30)
    assert result.wait == pytest.approx(90, abs=2)


def test_cancel_mid_chunk_lets_the_row_in_flight_finish_and_stops(enqueued):
    job = _job(10, handler="cancels_at_third", chunk_size=10)
    # Each reading 1 s later: the flags are read again before each row.
    result = batch_job_work(job_id=job.pk, budget_seconds=1000, clock=FakeClock(1))
    assert result.state == WorkState.STOPPED
    assert sorted(effects(job.pk)) == ["k00", "k01", "k02", "k03"]
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (BatchJobStatus.CANCELLED, 4, 10)
    rows = BatchItem.objects.filter(job=job, status=BatchRowStatus.PENDING)
    # Leased but not started: handed back without an attempt.
    assert rows.count() == 6 and {r.attempts for r in rows} == {0}
    assert batch_job_work(job_id=job.pk).state == WorkState.STOPPED
    assert len(effects(job.pk)) == 4


def test_a_missing_handler_fails_the_job_with_its_reason(enqueued):
    job = _job(2)
    BatchJob.objects.filter(pk=job.pk).update(handler=f"{H}.gone")
    assert batch_job_work(job_id=job.pk).state == WorkState.STOPPED
    job.refresh_from_db()
    assert job.status == BatchJobStatus.FAILED
    assert "gone" in job.last_error
    assert _statuses(job) == {BatchRowStatus.PENDING: 2}


def test_a_job_not_started_or_unknown_is_not_worked(enqueued):
    job = _job(2, start=False)
    assert batch_job_work(job_id=job.pk).state == WorkState.STOPPED
    assert batch_job_work(job_id=job.pk + 999).state == WorkState.STOPPED
    assert effects(job.pk) == {}


def test_an_own_transactions_handler_commits_its_writes_itself(enqueued):
    # Its effect survives the row's failure: it was committed outside the
    # row's transaction (a marker before a provider call relies on this).
    job = _job(2, handler="own_then_fail")
    batch_job_work(job_id=job.pk, budget_seconds=0)
    assert effects(job.pk) == {"k00": 1, "k01": 1}
    assert _statuses(job) == {BatchRowStatus.PENDING: 2}
    assert (
        BatchItem.objects.filter(job=job, last_error__contains="after the").count() == 2
    )
